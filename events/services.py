"""The desk's one door to LeadPing: views call these, never the HTTP client directly."""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from events import leadping
from events.detail import EventDetail


@dataclass(frozen=True)
class EventSnapshot:
    """An event detail and when the desk got it from LeadPing."""

    detail: EventDetail
    fetched_at: datetime


def lookup_event(*, event_id: str) -> EventSnapshot:
    """The current detail of one event; raises InvalidEventId or a leadping.LeadPingError."""
    detail = leadping.fetch_event_detail(event_id)
    return EventSnapshot(detail=detail, fetched_at=timezone.now())
