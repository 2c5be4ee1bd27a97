"""How LeadPing event data reads on the desk: badges, labels, phone numbers, durations, timelines.

Pure functions over plain values and `events.detail` dataclasses; templates reach them through the
thin filters in `events.templatetags.desk`. Icon names refer to symbols in templates/icons.html.
"""

import functools
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from django.utils import timezone
from phonenumbers import geocoder

from events.detail import LIFECYCLE_FIELDS, EventDetail, Moment

GENERIC_ICON = "dot"

# Longer than any real number with an extension; parsing longer text is wasted work and only
# ever reached by garbage, so it is shown as received instead.
_MAX_PHONE_LENGTH = 64
# phonenumbers digs a number out of surrounding text ("javascript:alert('+1201...')"); staff
# should see such text as received, so only number-like text is parsed at all.
_PHONE_TEXT = re.compile(r"(?:tel:)?[\d\s+\-.()/]+(?:(?:ext\.?|x|#|;ext=)\s*\d+)?", re.IGNORECASE)
# phonenumbers' codes for "no single region" (e.g. +800 freephone) are not places to show.
_NOT_A_REGION = {"001", "ZZ"}
_MINUS = "\u2212"


@dataclass(frozen=True)
class StatusBadge:
    key: str
    label: str
    icon: str
    is_final: bool
    description: str


@dataclass(frozen=True)
class EventKind:
    label: str
    icon: str


@dataclass(frozen=True)
class PhoneDisplay:
    raw: str
    parsed: bool
    valid: bool
    e164: str | None
    international: str | None
    region_code: str | None
    region_name: str
    tel_href: str | None

    @property
    def text(self) -> str:
        """The number as staff should read it: formatted when parsed, else as received."""
        return self.international or self.raw


@dataclass(frozen=True)
class TimelineStep:
    key: str
    label: str
    icon: str
    at: datetime | None
    raw: str
    is_failure: bool
    is_upcoming: bool
    since_previous: timedelta | None
    since_previous_text: str | None


_UNKNOWN_STATUS = StatusBadge(
    key="unknown",
    label="Unknown",
    icon="question",
    is_final=False,
    description="LeadPing did not report a status.",
)

# Keyed by _normalise(status); LeadPing documents "Cancelled" but spells the timestamp
# "canceledAt", so both spellings are accepted.
_STATUSES: dict[str, StatusBadge] = {
    "pending": StatusBadge("pending", "Pending", "clock", False, "Waiting to be sent."),
    "inprogress": StatusBadge("in-progress", "In progress", "progress", False, "Under way now."),
    "completed": StatusBadge("completed", "Completed", "check", True, "Finished successfully."),
    "failed": StatusBadge("failed", "Failed", "x-circle", True, "Stopped with an error."),
    "cancelled": StatusBadge("cancelled", "Cancelled", "ban", True, "Stopped before it finished."),
}
_STATUSES["canceled"] = _STATUSES["cancelled"]

_KINDS: dict[str, EventKind] = {
    "message": EventKind("Message", "message"),
    "sms": EventKind("SMS", "sms"),
    "mms": EventKind("MMS", "image"),
    "call": EventKind("Call", "phone"),
    "voicemail": EventKind("Voicemail", "voicemail"),
    "note": EventKind("Note", "note"),
    "disposition": EventKind("Disposition", "tag"),
    "leadcreated": EventKind("Lead created", "user-plus"),
    "leadupdated": EventKind("Lead updated", "user-edit"),
    "notification": EventKind("Notification", "bell"),
    "payment": EventKind("Payment", "credit-card"),
    "warmup": EventKind("Warmup", "flame"),
}

_DIRECTIONS = {"inbound": "Inbound", "outbound": "Outbound"}

# API field name -> (label, icon), for every field in LIFECYCLE_FIELDS.
_STEPS: dict[str, tuple[str, str]] = {
    "createdAt": ("Created", "dot"),
    "scheduledFor": ("Scheduled for", "calendar"),
    "queuedAt": ("Queued", "clock"),
    "sendingStartedAt": ("Sending started", "progress"),
    "sentAt": ("Sent", "arrow-out"),
    "deliveredAt": ("Delivered", "check"),
    "receivedAt": ("Received", "arrow-in"),
    "failedAt": ("Failed", "x-circle"),
    "undeliverableAt": ("Undeliverable", "alert-triangle"),
    "blockedAt": ("Blocked", "ban"),
    "canceledAt": ("Canceled", "ban"),
    "modifiedAt": ("Last modified", "refresh"),
}
_FAILURE_STEPS = {"failedAt", "undeliverableAt", "blockedAt", "canceledAt"}
# Bookkeeping rather than something that happened to the message.
_BOOKKEEPING_STEPS = {"modifiedAt"}
# Steps that may be timed before the event's creation, or are the creation.
_NOT_AFTER_CREATION = {"createdAt", "scheduledFor"}


def _normalise(value: str) -> str:
    """Lower case without blanks, _ and -, so "IN_PROGRESS", "in progress" and "InProgress"
    meet. Nothing else is dropped: "Completed?" or "Com<zero-width space>pleted" is not a
    final status, to be cached long and stop the polling."""
    return _SPELLING.sub("", value.casefold())


_SPELLING = re.compile(r"[\s_-]+")


def status_badge(status: str | None) -> StatusBadge:
    """The badge for an event status; unrecognised values keep their text and are not final."""
    if status is None or not status.strip():
        return _UNKNOWN_STATUS
    known = _STATUSES.get(_normalise(status))
    if known is not None:
        return known
    label = short_label(status)
    return StatusBadge(
        key="unknown",
        label=label,
        icon="question",
        is_final=False,
        description="A status this dashboard does not know yet"
        + ("." if label == status else f": {status}"),
    )


# LeadPing's own words for a status head the page: a few words are a label, a thousand
# characters would push the rest off the first screen (the page's head cuts a type or
# direction the same way; the facts keep them whole).
LABEL_LENGTH = 60


def short_label(text: str) -> str:
    """`text` in at most LABEL_LENGTH characters, the last one "…" if it was cut."""
    return text if len(text) <= LABEL_LENGTH else text[: LABEL_LENGTH - 1] + "…"


# Lifecycle times that contradict a status: a failure time beside "Completed", a delivery
# time beside "Failed" or "Cancelled".
_ENDINGS = ("delivered_at", "failed_at", "undeliverable_at", "blocked_at", "canceled_at")
_CONTRADICTIONS: dict[str, tuple[str, ...]] = {
    "completed": ("failed_at", "undeliverable_at", "blocked_at", "canceled_at"),
    "failed": ("delivered_at",),
    "cancelled": ("delivered_at",),
    # Still live, yet the lifecycle has an ending: the badge would keep saying "Pending".
    "pending": _ENDINGS,
    "in-progress": _ENDINGS,
}


def status_conflict(detail: EventDetail, *, now: datetime | None = None) -> str | None:
    """A sentence for staff when the status and the lifecycle disagree, else None.

    LeadPing reports both; when they disagree the page must not let a green badge hide a
    failure time (or a red one a delivery).
    """
    notes = [_status_contradiction(detail), _clocks_disagree(detail, now=now or timezone.now())]
    return " ".join(note for note in notes if note) or None


def _status_contradiction(detail: EventDetail) -> str | None:
    badge = status_badge(detail.status)
    for attr in _CONTRADICTIONS.get(badge.key, ()):
        if getattr(detail, attr) is not None:
            return (
                f"LeadPing's status says {badge.label}, but the lifecycle also has "
                f"{_label(LIFECYCLE_FIELDS[attr])}: check the timeline and the raw JSON."
            )
    return None


# Clocks of different systems differ a little; past this, a step before the event's creation
# is said, as the timeline (in time order) would otherwise start with it unexplained.
_CLOCK_SLACK = timedelta(seconds=1)


# A message's way out, in the order its steps happen.
_DELIVERY_CHAIN = ("queuedAt", "sendingStartedAt", "sentAt", "deliveredAt")
# Steps that say something has happened (a schedule is the one that may lie ahead).
_HAPPENED_STEPS = frozenset(LIFECYCLE_FIELDS.values()) - {"scheduledFor"}
# A step this far ahead of the desk's clock is not a clock a moment off.
_FUTURE_SLACK = timedelta(minutes=1)
_CLOCKS_NOTE = (
    "its times may come from clocks that disagree. The timeline is in time order; "
    "check the raw JSON."
)


def _clocks_disagree(detail: EventDetail, *, now: datetime) -> str | None:
    """A sentence when LeadPing's times cannot all be right: a step before the event's
    creation, a message's steps out of their order (sent before sending started), or a step
    that has happened timed in the future."""
    times = {
        key: moment.value
        for attr, key in LIFECYCLE_FIELDS.items()
        if (moment := getattr(detail, attr)) is not None and moment.value is not None
    }
    created = times.get("createdAt")
    if created is not None:
        for key, at in times.items():
            if key not in _NOT_AFTER_CREATION and at < created - _CLOCK_SLACK:
                return _puts(key, "before the event was created")
    chain = [key for key in _DELIVERY_CHAIN if key in times]
    for earlier, later in itertools.combinations(chain, 2):
        if times[later] < times[earlier] - _CLOCK_SLACK:
            return _puts(later, f"before {_label(earlier)}")
    for key, at in times.items():
        if key in _HAPPENED_STEPS and at > now + _FUTURE_SLACK:
            return _puts(key, "in the future")
    return None


def _puts(key: str, where: str) -> str:
    return f"LeadPing's lifecycle puts {_label(key)} {where}: {_CLOCKS_NOTE}"


def _label(key: str) -> str:
    return _STEPS[key][0].lower()


def is_final_status(status: str | None) -> bool:
    """Whether the status can no longer change (so the dashboard may stop polling)."""
    return status_badge(status).is_final


def timeline_kind(timeline_type: str | None) -> EventKind:
    """Label and icon for a timelineType; unknown types keep their text beside a generic icon."""
    if timeline_type is None or not timeline_type.strip():
        return EventKind("Unknown type", GENERIC_ICON)
    return _KINDS.get(_normalise(timeline_type)) or EventKind(timeline_type, GENERIC_ICON)


def direction_label(direction: str | None) -> str | None:
    """Inbound or Outbound whatever the spelling; other values as received, blank as None."""
    if direction is None or not direction.strip():
        return None
    return _DIRECTIONS.get(_normalise(direction), direction)


# Parsing and geocoding a number is the dearest part of drawing an event page, and the
# same few numbers come back on every poll: remember the answers (they are immutable).
@functools.lru_cache(maxsize=4096)
def phone_display(raw: str | None, *, default_region: str = "US") -> PhoneDisplay | None:
    """A phone number parsed for display; text that is not a possible number is kept as received."""
    if raw is None or not raw.strip():
        return None
    number = _parse_phone(raw, default_region)
    if number is None:
        return PhoneDisplay(
            raw=raw,
            parsed=False,
            valid=False,
            e164=None,
            international=None,
            region_code=None,
            region_name="",
            tel_href=None,
        )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    region_code = phonenumbers.region_code_for_number(number)
    return PhoneDisplay(
        raw=raw,
        parsed=True,
        valid=phonenumbers.is_valid_number(number),
        e164=e164,
        international=phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.INTERNATIONAL
        ),
        region_code=None if region_code in _NOT_A_REGION else region_code,
        region_name=geocoder.country_name_for_number(number, "en"),
        # Built from phonenumbers' own E.164 output (a plus and digits), never from `raw`.
        tel_href=f"tel:{e164}",
    )


def _parse_phone(raw: str, default_region: str) -> phonenumbers.PhoneNumber | None:
    if len(raw) > _MAX_PHONE_LENGTH or not _PHONE_TEXT.fullmatch(raw.strip()):
        return None
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_possible_number(number) else None


def format_duration(delta: timedelta) -> str:
    """Compact, truncated duration: "0.4 s", "12 s", "3 min 5 s", "2 h 10 min", "3 d 4 h"."""
    sign = _MINUS if delta < timedelta(0) else ""
    magnitude = abs(delta)
    if not magnitude:
        return "0 s"
    if magnitude < timedelta(seconds=1):
        tenths = magnitude.microseconds // 100_000
        return f"{sign}0.{tenths} s" if tenths else f"{sign}under 0.1 s"
    days = magnitude.days
    hours, remainder = divmod(magnitude.seconds, 3600)
    minutes, seconds = divmod(remainder, 60)
    if days:
        parts = [(days, "d"), (hours, "h")]
    elif hours:
        parts = [(hours, "h"), (minutes, "min")]
    elif minutes:
        parts = [(minutes, "min"), (seconds, "s")]
    else:
        parts = [(seconds, "s")]
    # A zero second part ("2 h 0 min") is noise; the leading part is never zero here.
    return sign + " ".join(f"{amount} {unit}" for amount, unit in parts if amount)


def build_timeline(detail: EventDetail, *, now: datetime) -> list[TimelineStep]:
    """One step per lifecycle timestamp present, in time order, unreadable ones last.

    Ties keep LIFECYCLE_FIELDS order. `modifiedAt` is always kept, even when it repeats the
    previous step: it is what LeadPing reported, and "0 s" after delivery tells staff nothing
    else changed. `now` must be timezone-aware.
    """
    dated: list[tuple[str, Moment]] = []
    undated: list[tuple[str, Moment]] = []
    for attr, key in LIFECYCLE_FIELDS.items():
        moment: Moment | None = getattr(detail, attr)
        if moment is not None:
            (dated if moment.value is not None else undated).append((key, moment))
    # sort() is stable, so equal times stay in lifecycle order.
    dated.sort(key=lambda item: item[1].value)
    steps: list[TimelineStep] = []
    previous: datetime | None = None
    for key, moment in dated:
        steps.append(_step(key, moment, now=now, previous=previous))
        previous = moment.value
    steps += [_step(key, moment, now=now, previous=None) for key, moment in undated]
    return steps


def _step(key: str, moment: Moment, *, now: datetime, previous: datetime | None) -> TimelineStep:
    label, icon = _STEPS[key]
    since_previous = None
    if moment.value is not None and previous is not None:
        since_previous = moment.value - previous
    return TimelineStep(
        key=key,
        label=label,
        icon=icon,
        at=moment.value,
        raw=moment.raw,
        is_failure=key in _FAILURE_STEPS,
        # Only a schedule lies ahead; a delivery timed in the future is a clock that is off
        # (status_conflict says so), not something to wait for.
        is_upcoming=key not in _HAPPENED_STEPS and moment.value is not None and moment.value > now,
        since_previous=since_previous,
        since_previous_text=None if since_previous is None else format_duration(since_previous),
    )


def timeline_outcome(steps: Sequence[TimelineStep]) -> TimelineStep | None:
    """The step that sums the event up: the last failure, else the furthest step with a time,
    by where the step comes in an event's life rather than by its time (with LeadPing's
    clocks out of step, a delivery timed before the creation is still the outcome).

    "Last modified" is bookkeeping, not an outcome, so it is passed over unless it is the only
    step; a step whose time could not be read is never picked over one that could.
    """
    failures = [step for step in steps if step.is_failure]
    if failures:
        # Unreadable steps come last: a failure with a time goes before one without.
        readable_failures = [step for step in failures if step.at is not None]
        return (readable_failures or failures)[-1]
    outcomes = [step for step in steps if step.key not in _BOOKKEEPING_STEPS]
    readable = [step for step in outcomes if step.at is not None]
    candidates = readable or outcomes or steps
    return max(candidates, key=_lifecycle_place) if candidates else None


_LIFECYCLE_PLACES = {key: place for place, key in enumerate(LIFECYCLE_FIELDS.values())}


def _lifecycle_place(step: TimelineStep) -> int:
    return _LIFECYCLE_PLACES[step.key]
