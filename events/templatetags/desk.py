"""Template filters over events.presentation, and the {% icon %} tag for templates/icons.html."""

import functools
from datetime import UTC, datetime, timedelta

from django import template
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.templatetags.static import static
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from events.detail import Moment, not_as_received, without_bidi_controls
from events.event_ids import is_valid_event_id
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
def visible(text: object) -> str:
    """{{ typed|visible }}: what staff typed or a client sent, echoed with bidirectional
    controls as U+FFFD, so that a typed "abc<U+202E>fed" cannot read as another ID."""
    return without_bidi_controls(str(text)) if text is not None else ""


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
    return _ICONS[name if isinstance(name, str) and name in _ICONS else GENERIC_ICON]


# Built once: a page shows a score of icons, and each name has one markup.
_ICONS = {
    name: format_html('<svg class="icon" aria-hidden="true"><use href="#i-{}"></use></svg>', name)
    for name in ICON_NAMES
}


@register.simple_tag
def page_url(name: str) -> str:
    """{% url name %} for a page that takes no arguments (the menus), reversed once a process."""
    return _reversed(name, get_script_prefix())


@register.simple_tag
def event_url(name: str, event_id: str) -> str:
    """{% url name event_id %} for a valid event ID, with the rest of the path reversed once.

    A valid ID is one path segment that reverse() leaves as it is (events.event_ids); any
    other value is reversed in full.
    """
    if not is_valid_event_id(event_id):
        return reverse(name, args=[event_id])
    head, tail = _event_url_parts(name, get_script_prefix())
    return f"{head}{event_id}{tail}"


@functools.lru_cache(maxsize=32)
def _event_url_parts(name: str, script_prefix: str) -> tuple[str, str]:
    head, _, tail = reverse(name, args=[_ID_MARK]).partition(_ID_MARK)
    return head, tail


_ID_MARK = "event-id-mark"


@register.simple_tag
def asset(path: str) -> str:
    """{% static path %}, looked up once a process: the manifest does not change while it runs."""
    return _asset_url(path)


# Reversing and the manifest lookup cost tens of microseconds each, on every page.
@functools.lru_cache(maxsize=128)
def _reversed(name: str, script_prefix: str) -> str:
    return reverse(name)


@functools.lru_cache(maxsize=128)
def _asset_url(path: str) -> str:
    return static(path)


@receiver(setting_changed)
def _forget_urls(setting: str, **_: object) -> None:
    if setting in {"ROOT_URLCONF", "FORCE_SCRIPT_NAME"}:
        _reversed.cache_clear()
        _event_url_parts.cache_clear()
    if setting in {"STORAGES", "STATIC_URL", "DEBUG"}:
        _asset_url.cache_clear()


register.filter("not_as_received", not_as_received)


@register.simple_tag
def copyable(value: object, label: str) -> SafeString:
    """{% copyable detail.lead_id "lead ID" %} -> the value as code with a copy button, or —.
    A value not shown as received (cut short, or with U+FFFD for what could not be shown) has
    no button: it would copy text that is not LeadPing's value."""
    if not value:
        return _NONE
    if not_as_received(str(value)):
        return format_html('<span class="copyable"><code>{}</code></span>', value)
    return format_html(
        '<span class="copyable"><code>{value}</code><button type="button" class="button-copy" '
        'data-copy="{value}" data-copy-label="{label}" aria-label="Copy {label}" '
        'title="Copy {label}">{icon}</button></span>',
        value=value,
        label=label,
        icon=_ICONS["copy"],
    )


@register.simple_tag
def phone_number(raw: object, masked: bool) -> SafeString:
    """{% phone_number detail.to_phone_number numbers_masked %} -> a formatted, linked number.

    Masked numbers (staff without the permission) are shown as they are, tagged "masked";
    text that is not a number is shown as received, tagged.
    """
    number = phone(raw)
    if number is None:
        return _NONE
    if masked:
        return format_html(
            '<span class="phone"><code>{}</code> <span class="tag" title="Your role shows only '
            'the last 4 digits of phone numbers">masked</span></span>',
            number.raw,
        )
    if not number.parsed:
        return format_html(
            '<span class="phone"><code>{}</code> <span class="tag tag-warning">not a phone '
            "number we can read, shown as received</span></span>",
            number.raw,
        )
    region = number.region_name or number.region_code
    return format_html(
        '<span class="phone copyable"><a href="{href}">{text}</a>{region}{unusual}'
        '<button type="button" class="button-copy" data-copy="{e164}" data-copy-label="number" '
        'aria-label="Copy {e164}" title="Copy {e164}">{icon}</button></span>',
        href=number.tel_href,
        text=number.international,
        region=format_html(' <span class="muted">{}</span>', region) if region else "",
        unusual=_UNUSUAL_NUMBER if not number.valid else "",
        e164=number.e164,
        icon=_ICONS["copy"],
    )


@register.simple_tag
def moment(value: object) -> SafeString:
    """{% moment detail.created_at %} (a Moment, or a datetime) -> a <time> in the viewer's zone.

    The "3 minutes ago" beside it is filled in and kept current by desk.js (`data-since`, empty
    for "the <time> before me"), so that a rendered page can be cached and still read right.
    Outside UTC, hovering shows the time in UTC.
    """
    at = value.value if isinstance(value, Moment) else value
    if isinstance(at, datetime) and timezone.is_aware(at):
        utc = at.astimezone(UTC)
        local = timezone.localtime(at)
        iso = iso_utc(at)
        return format_html(
            '<time datetime="{iso}"{title}>{local}</time> '
            '<span class="relative" data-since></span>',
            iso=iso,
            title=(
                format_html(' title="{} UTC"', clock(utc))
                if local.utcoffset() or local.tzname() != "UTC"
                else ""
            ),
            local=f"{clock(local)} {local.tzname() or ''}".rstrip(),
        )
    if isinstance(value, Moment):
        return format_html(
            '<code>{}</code> <span class="tag tag-warning">unreadable time</span>',
            value.raw,
        )
    return _NONE


@register.filter
def time_of_day(at: datetime) -> str:
    """{{ snapshot.fetched_at|time_of_day }} -> "17:42:36" in the viewer's zone (date:"H:i:s")."""
    if not isinstance(at, datetime):
        return ""
    local = timezone.localtime(at) if timezone.is_aware(at) else at
    return f"{local.hour:02}:{local.minute:02}:{local.second:02}"


@register.filter
def shorten(value: object, length: int) -> str:
    """{{ detail.id|shorten:24 }} -> at most `length` characters, the last one "…" if cut."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    if len(text) <= length:
        return text
    return text[: max(length - 1, 0)] + "…"


@register.filter
def iso_utc(at: datetime) -> str:
    """{{ snapshot.fetched_at|iso_utc }} -> "2026-11-27T17:42:36.471Z": short, for datetime=…"""
    if not isinstance(at, datetime) or not timezone.is_aware(at):
        return ""
    utc = at.astimezone(UTC)
    iso = utc.isoformat(timespec="milliseconds" if utc.microsecond >= 1000 else "seconds")
    return iso.removesuffix("+00:00") + "Z"


def clock(at: datetime) -> str:
    """ "Fri 27 Nov 2026, 17:42:36": English names whatever the process's locale."""
    return (
        f"{_DAYS[at.weekday()]} {at.day} {_MONTHS[at.month - 1]} {at.year}, "
        f"{at.hour:02}:{at.minute:02}:{at.second:02}"
    )


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# Constant markup, no input in it.
_NONE = mark_safe('<span class="muted">—</span>')
_UNUSUAL_NUMBER = mark_safe(
    ' <span class="tag tag-warning" title="The number has a possible length but is not '
    "assigned in its region's plan\">unusual number</span>"
)


def _text_or_none(value: object) -> str | None:
    """Filters can be handed anything a template resolves; only text is a value to present."""
    return value if isinstance(value, str) else None
