"""The event detail payload of `GET /events/{eventId}/detail`, parsed into frozen dataclasses.

Parsing is tolerant where LeadPing's API drifts (see ../shared/leadping-api/README.md): unknown
enum values are kept as received, `activityType`/`activityCategory` stand in for
`timelineType`/`timelineCategory`, a missing `status` means unknown, and a field of the wrong
type or an unreadable timestamp degrades that one field (listed in `problems`), never the page.
"""

import functools
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# A lone UTF-16 surrogate, as an escape in JSON text (\ud800) or as bytes that json decodes
# with surrogatepass (ED A0 80): Python keeps it in a str that cannot be encoded to UTF-8.
_SURROGATE_HINT = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_SURROGATE = re.compile("[\ud800-\udfff]")

# Timestamps outside these years are placeholders (.NET's 0001-01-01) or garbage; showing
# them as dates would mislead and converting them between zones can overflow.
_PLAUSIBLE_YEARS = range(1900, 2201)
_MAX_TIMESTAMP_LENGTH = 64

# How much of one text the page shows. A browser lays out a long unbroken text very slowly
# (a megabyte of it froze a tab for a minute); the raw JSON keeps every text whole.
FREE_TEXT_LIMIT = 10_000
SHORT_TEXT_LIMIT = 1_000
_FREE_TEXT_FIELDS = frozenset({"summary", "description", "status_reason"})

# Bidirectional embeddings, overrides and isolates reorder the text around them: with
# U+202E, "invoice-\u202etxt.exe" reads as "invoice-exe.txt". Control characters (but tab
# and line breaks) show as nothing in a page, yet a copy button would put them on the
# clipboard ("\x1b[2J" clears a terminal it is pasted into). In the fields they all become
# U+FFFD, visibly; in the JSON, the escape that JSON itself would use (same value).
# Unicode's Bidi_Control characters: embeddings, overrides and isolates, and the marks
# (LRM, RLM, ALM), which reorder the digits and blanks around them too: "Refund 1<RLM> 2 3 4
# approved" reads "Refund 14 3 2 approved".
_BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_C0_CONTROLS = "".join(chr(code) for code in range(0x20) if chr(code) not in "\t\n\r")
_C1_CONTROLS = "".join(chr(code) for code in range(0x7F, 0xA0))  # and DEL
_BIDI_IN_TEXT = str.maketrans(dict.fromkeys(_BIDI_CONTROLS + _C0_CONTROLS + _C1_CONTROLS, "\ufffd"))
# json.dumps escapes C0 controls itself.
_UNESCAPED_IN_JSON = _BIDI_CONTROLS + _C1_CONTROLS
_BIDI_IN_JSON = str.maketrans({char: f"\\u{ord(char):04x}" for char in _UNESCAPED_IN_JSON})
# str.translate reads a text that is not all ASCII at a quarter of a microsecond a character:
# half a second for a large answer. The regex finds out first whether there is anything to do.
_ANY_BIDI_CONTROL = re.compile(f"[{_UNESCAPED_IN_JSON}]")
_ANY_CONTROL = re.compile(f"[{re.escape(_BIDI_CONTROLS + _C0_CONTROLS + _C1_CONTROLS)}]")


def _combining_marks() -> str:
    """A regex class body: the combining and enclosing marks (Mn, Me) of the BMP (with the
    other planes' marks, the class reads every character fifteen times as slowly)."""
    points = [code for code in range(0x10000) if unicodedata.category(chr(code)) in {"Mn", "Me"}]
    ranges: list[tuple[int, int]] = []
    for code in points:
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return "".join(
        re.escape(chr(first)) + (f"-{re.escape(chr(last))}" if last > first else "")
        for first, last in ranges
    )


# Real scripts stack a few marks on a letter (Hebrew points and cantillation, Tibetan
# stacks); "Zalgo" text stacks hundreds, which pile up over the lines above and, in a
# monospace box, run sideways off the page. Past this many in a row, one U+FFFD says the
# rest were left out (the raw JSON keeps them).
_MAX_MARKS_IN_A_ROW = 6
_MARKS = _combining_marks()
_MARK_FLOOD = re.compile(f"([{_MARKS}]{{{_MAX_MARKS_IN_A_ROW}}})[{_MARKS}]+")


def without_bidi_controls(text: str) -> str:
    """The text with each bidirectional control, and each control character but tab and
    line breaks, shown as U+FFFD, as in the event's fields; a flood of combining marks is
    cut to a few and U+FFFD."""
    if _ANY_CONTROL.search(text):
        text = text.translate(_BIDI_IN_TEXT)
    return text if text.isascii() else _MARK_FLOOD.sub("\\1\ufffd", text)


@dataclass(frozen=True)
class Moment:
    """A timestamp as received; `value` is None when the text could not be read as one."""

    raw: str
    value: datetime | None

    @property
    def is_valid(self) -> bool:
        return self.value is not None


@dataclass(frozen=True)
class EventUser:
    id: str | None
    name: str | None


@dataclass(frozen=True)
class EventDetail:
    id: str
    event_type: str | None = None
    secondary_event_type: str | None = None
    description: str | None = None
    event_category: str | None = None
    timeline_type: str | None = None
    timeline_category: str | None = None
    conversation_id: str | None = None
    summary: str | None = None
    direction: str | None = None
    status: str | None = None
    status_reason: str | None = None
    from_phone_number_id: str | None = None
    outbound_phone_number_id: str | None = None
    from_phone_number: str | None = None
    to_phone_number: str | None = None
    provider_message_id: str | None = None
    queued_at: Moment | None = None
    scheduled_for: Moment | None = None
    sending_started_at: Moment | None = None
    sent_at: Moment | None = None
    delivered_at: Moment | None = None
    received_at: Moment | None = None
    failed_at: Moment | None = None
    undeliverable_at: Moment | None = None
    blocked_at: Moment | None = None
    canceled_at: Moment | None = None
    user: EventUser | None = None
    user_id: str | None = None
    lead_id: str | None = None
    created_at: Moment | None = None
    modified_at: Moment | None = None
    full_payload: str | None = None
    raw_json: str = "{}"
    problems: tuple[str, ...] = field(default_factory=tuple)
    # Names LeadPing's JSON held twice or more in one object (the last value is shown). A
    # plain default, so that answers cached before this field read as having none.
    repeated_names: tuple[str, ...] = ()
    # False when LeadPing's answer gives another event's ID than the one asked for (one
    # that differs in case only is the same event): it is then never taken as final.
    answers_asked_id: bool = True


# attribute name -> field name in the API payload (aliases listed after the primary name)
_STRING_FIELDS: dict[str, tuple[str, ...]] = {
    "event_type": ("eventType",),
    "secondary_event_type": ("secondaryEventType",),
    "description": ("description",),
    "event_category": ("eventCategory",),
    "timeline_type": ("timelineType", "activityType"),
    "timeline_category": ("timelineCategory", "activityCategory"),
    "conversation_id": ("conversationId",),
    "summary": ("summary",),
    "direction": ("direction",),
    "status": ("status",),
    "status_reason": ("statusReason",),
    "from_phone_number_id": ("fromPhoneNumberId",),
    "outbound_phone_number_id": ("outboundPhoneNumberId",),
    "from_phone_number": ("fromPhoneNumber",),
    "to_phone_number": ("toPhoneNumber",),
    "provider_message_id": ("providerMessageId",),
    "user_id": ("userId",),
    "lead_id": ("leadId",),
}

# The lifecycle, in the order an event normally lives it (ties in time keep this order).
LIFECYCLE_FIELDS: dict[str, str] = {
    "created_at": "createdAt",
    "scheduled_for": "scheduledFor",
    "queued_at": "queuedAt",
    "sending_started_at": "sendingStartedAt",
    "sent_at": "sentAt",
    "delivered_at": "deliveredAt",
    "received_at": "receivedAt",
    "failed_at": "failedAt",
    "undeliverable_at": "undeliverableAt",
    "blocked_at": "blockedAt",
    "canceled_at": "canceledAt",
    "modified_at": "modifiedAt",
}


def load_json(text: str | bytes, *, repeated: set[str] | None = None) -> Any:
    """json.loads for LeadPing's text, with every lone surrogate replaced by U+FFFD.

    JSON may escape half of a surrogate pair on its own ("\\udfff"); json.loads keeps it, and
    the page, the download and the cache would then fail to encode it. Raises ValueError or
    RecursionError as json.loads does. `repeated`, when given, gets the names an object
    held more than once: JSON allows it, and only the last value is kept (as JavaScript
    keeps it), so the page says which.
    """
    options: dict[str, Any] = {}
    if repeated is not None:
        options["object_pairs_hook"] = functools.partial(_object, repeated=repeated)
    try:
        value = json.loads(text, **options)
    except ValueError as error:
        if "digits" not in str(error):
            raise
        # An integer past Python's 4,300 digits for str -> int: valid JSON, kept as its text.
        value = json.loads(text, parse_int=_integer_or_text, **options)
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if json.detect_encoding(raw) == "utf-8" and not _SURROGATE_HINT.search(raw):
        return value
    return _without_surrogates(value)


def _object(pairs: list[tuple[str, Any]], *, repeated: set[str]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                repeated.add(name)
            seen.add(name)
    return value


def _integer_or_text(digits: str) -> int | str:
    try:
        return int(digits)
    except ValueError:
        return digits


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    return value


class NotAnEvent(ValueError):
    """A JSON object holding none of an event's fields (an error document sent with 200)."""


def parse_event_detail(
    payload: Any, *, requested_id: str, repeated_names: Iterable[str] = ()
) -> EventDetail:
    """Build an EventDetail from the decoded JSON body; the body must be a JSON object
    with at least one of an event's fields (raises TypeError or NotAnEvent otherwise).
    `repeated_names` are those load_json found more than once in an object."""
    if not isinstance(payload, Mapping):
        raise TypeError(f"expected a JSON object, got {type(payload).__name__}")
    problems: list[str] = []
    values: dict[str, Any] = {}
    for attr, names in _STRING_FIELDS.items():
        limit = FREE_TEXT_LIMIT if attr in _FREE_TEXT_FIELDS else SHORT_TEXT_LIMIT
        values[attr] = _string(payload, names, problems, limit=limit)
    for attr, name in LIFECYCLE_FIELDS.items():
        values[attr] = _moment(payload, name, problems)
    values["user"] = _user(payload.get("user"), problems)
    answered_id = _string(payload, ("id",), problems)
    if answered_id is None and (
        _is_problem_document(payload) or all(value is None for value in values.values())
    ):
        # Shown as an event, it would read as a live event of unknown type, polled for ever.
        raise NotAnEvent("the answer holds none of an event's fields")
    event_id = answered_id or requested_id
    return EventDetail(
        id=event_id,
        answers_asked_id=event_id.casefold() == requested_id.casefold(),
        full_payload=_full_payload(payload.get("fullPayload"), problems),
        raw_json=json_text(payload),
        problems=tuple(problems),
        repeated_names=_shown_names(repeated_names),
        **values,
    )


_MAX_REPEATED_NAMES = 20


def _shown_names(names: Iterable[str]) -> tuple[str, ...]:
    shown = sorted(
        cut(without_bidi_controls(_SURROGATE.sub("\ufffd", name)), SHORT_TEXT_LIMIT)
        for name in names
    )
    return tuple(shown[:_MAX_REPEATED_NAMES])


def _is_problem_document(payload: Mapping[str, Any]) -> bool:
    """An RFC 9457 error body (numeric `status`, a `title` or `type`) rather than an event."""
    status = payload.get("status")
    return (
        isinstance(status, int)
        and not isinstance(status, bool)
        and any(isinstance(payload.get(name), str) for name in ("title", "type"))
    )


def _present(payload: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str, Any]:
    """The first of `names` present with a non-null value, else the primary name and None."""
    for name in names:
        if payload.get(name) is not None:
            return name, payload[name]
    return names[0], None


def _string(
    payload: Mapping[str, Any],
    names: tuple[str, ...],
    problems: list[str],
    *,
    limit: int = SHORT_TEXT_LIMIT,
) -> str | None:
    name, value = _present(payload, names)
    if value is None:
        return None
    if isinstance(value, str):
        return cut(without_bidi_controls(value), limit) if value.strip() else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(value)
    # NaN and Infinity (which LeadPing's JSON may hold) are no text: "nan" is no status.
    problems.append(name)
    return None


# Indentation grows with depth on every line: 20 KB of "[[[…]]]" 10,000 deep pretty-prints to
# 200 MB. Past this many bytes of indentation the JSON is kept compact (it stays whole).
MAX_INDENT_BYTES = 1_000_000
_INDENT = 2


def json_text(value: Any) -> str:
    """Pretty-printed JSON, non-ASCII kept readable but bidirectional controls escaped; compact
    when pretty-printing would add more than MAX_INDENT_BYTES of indentation."""
    indent = _INDENT if _indentation_bytes(value, MAX_INDENT_BYTES) <= MAX_INDENT_BYTES else None
    text = json.dumps(value, indent=indent, ensure_ascii=False, default=str)
    return text.translate(_BIDI_IN_JSON) if _ANY_BIDI_CONTROL.search(text) else text


def _indentation_bytes(value: Any, limit: int) -> int:
    """The whitespace json.dumps(indent=2) would add, counted up to just past `limit`
    (iteratively: the value may be nested deeper than Python's recursion limit)."""
    total = 0
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if not children:
            continue
        # Each child on its own line one level in, then the closing bracket's line.
        total += len(children) * (1 + _INDENT * (depth + 1)) + 1 + _INDENT * depth
        if total > limit:
            return total
        stack.extend((child, depth + 1) for child in children)
    return total


_CUT_NOTE_END = "characters; the raw JSON has the whole text]"


def cut(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters and a note saying it was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [cut at {limit:,} of {len(text):,} {_CUT_NOTE_END}"


def was_cut(text: str) -> bool:
    """Whether `text` is cut() short: copying it would copy the note, not the value."""
    return text.endswith(_CUT_NOTE_END)


def not_as_received(text: str) -> bool:
    """Whether `text` differs from what LeadPing sent: cut short, or with characters shown
    as U+FFFD (controls, direction marks, a flood of combining marks). A copy of it would not
    match LeadPing's own value, so the page offers none."""
    return "\ufffd" in text or was_cut(text)


def _moment(payload: Mapping[str, Any], name: str, problems: list[str]) -> Moment | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(name)
        return Moment(raw=json.dumps(value, default=str)[:_MAX_TIMESTAMP_LENGTH], value=None)
    if not value.strip() or _UNSET_TIME.match(value):
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        problems.append(name)
        return Moment(raw=cut(without_bidi_controls(value), _MAX_TIMESTAMP_LENGTH), value=None)
    return Moment(raw=value, value=parsed)


# The first and last moments of .NET's DateTime, Go's zero time and the Unix epoch (a zero
# timestamp written out): what a backend writes for a time it never set. Read as absent (the
# raw JSON keeps them), not as a time ("delivered 56 years ago") nor as an unreadable one.
# Written with any offset (a DateTime of Kind Local), as a date alone, or with a blank for "T".
_UNSET_TIME = re.compile(
    r"\s*(?:(?:0001-01-01|1970-01-01)(?:[T ]00:00(?::00(?:\.0+)?)?)?"
    r"|9999-12-31(?:[T ]23:59(?::59(?:\.9+)?)?)?)"
    r"(?:Z|[+-]\d\d(?::?\d\d)?)?\s*$",
    re.IGNORECASE,
)


def parse_timestamp(text: str) -> datetime | None:
    """An aware UTC datetime from ISO 8601 text (naive means UTC), or None if unreadable."""
    if len(text) > _MAX_TIMESTAMP_LENGTH:
        return None
    text = text.strip()
    if text.endswith("z"):  # RFC 3339 allows it; fromisoformat takes only "Z"
        text = f"{text[:-1]}Z"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.year not in _PLAUSIBLE_YEARS:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _user(value: Any, problems: list[str]) -> EventUser | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        problems.append("user")
        return None
    user = EventUser(id=_string(value, ("id",), problems), name=_string(value, ("name",), problems))
    return user if user.id or user.name else None


def _full_payload(value: Any, problems: list[str]) -> str | None:
    """`fullPayload` is documented as a JSON string; show it pretty-printed, or as received."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            decoded = load_json(value)
        except (ValueError, RecursionError):
            return without_bidi_controls(value)
        if not isinstance(decoded, dict | list):
            return without_bidi_controls(value)
        value = decoded
    try:
        return json_text(value)
    except (ValueError, RecursionError):
        problems.append("fullPayload")
        return None
