"""Template filters over events.presentation, and the {% icon %} tag for templates/icons.html."""

from datetime import timedelta

from django import template
from django.conf import settings
from django.utils.html import format_html
from django.utils.safestring import SafeString

from events.presentation import (
    GENERIC_ICON,
    EventKind,
    PhoneDisplay,
    StatusBadge,
    direction_label,
    format_duration,
    phone_display,
    status_badge,
    timeline_kind,
)

register = template.Library()

# The <symbol id="i-NAME"> ids in templates/icons.html (tests/test_desk_filters.py compares them).
ICON_NAMES = frozenset(
    {
        "alert-triangle",
        "arrow-in",
        "arrow-out",
        "ban",
        "bell",
        "calendar",
        "check",
        "clock",
        "copy",
        "credit-card",
        "dot",
        "download",
        "external",
        "flame",
        "image",
        "link",
        "message",
        "note",
        "phone",
        "progress",
        "question",
        "refresh",
        "search",
        "sms",
        "tag",
        "user-edit",
        "user-plus",
        "voicemail",
        "x-circle",
    }
)


@register.filter(name="status_badge")
def status_badge_filter(status: str | None) -> StatusBadge:
    """{{ detail.status|status_badge }} -> a StatusBadge."""
    return status_badge(_text_or_none(status))


@register.filter
def event_kind(timeline_type: str | None) -> EventKind:
    """{{ detail.timeline_type|event_kind }} -> an EventKind."""
    return timeline_kind(_text_or_none(timeline_type))


@register.filter
def phone(raw: str | None) -> PhoneDisplay | None:
    """{{ detail.to_phone_number|phone }} -> a PhoneDisplay read with LEADPING_DEFAULT_REGION."""
    return phone_display(_text_or_none(raw), default_region=settings.LEADPING_DEFAULT_REGION)


@register.filter
def duration(delta: timedelta | None) -> str:
    """{{ step.since_previous|duration }} -> "3 min 5 s", or "" when there is no duration."""
    return format_duration(delta) if isinstance(delta, timedelta) else ""


@register.filter
def direction(value: str | None) -> str:
    """{{ detail.direction|direction }} -> "Inbound", "Outbound", the value as received, or ""."""
    return direction_label(_text_or_none(value)) or ""


@register.simple_tag
def icon(name: str) -> SafeString:
    """{% icon "check" %} -> an inline <svg> using the sprite symbol, the generic one if unknown."""
    known = name if isinstance(name, str) and name in ICON_NAMES else GENERIC_ICON
    return format_html(
        '<svg class="icon" aria-hidden="true" focusable="false"><use href="#i-{}"></use></svg>',
        known,
    )


def _text_or_none(value: object) -> str | None:
    """Filters can be handed anything a template resolves; only text is a value to present."""
    return value if isinstance(value, str) else None
