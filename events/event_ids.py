"""Event ID validation, and finding an event ID in whatever a support person pastes.

The API documents `eventId` only as a string. The desk accepts 1 to 128 characters from
A-Z a-z 0-9 and `-` `_` `.` `:`, starting with a letter or digit. That covers GUIDs,
Cosmos DB and Telnyx-style IDs, and it keeps an ID to exactly one URL path segment: no
`/`, `?`, `#`, `%`, `@`, blanks, or `.`/`..` segments that could redirect an upstream call.
"""

import re
import unicodedata
from urllib.parse import parse_qs, unquote, urlsplit

from django.conf import settings

from events.masking import is_phone_number_digits

MAX_EVENT_ID_LENGTH = 128
MAX_LOOKUP_INPUT_LENGTH = 2048

_EVENT_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:-]{{0,{MAX_EVENT_ID_LENGTH - 1}}}")
_GUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
_URL = re.compile(r"https?://\S+|/events/\S+", re.IGNORECASE)
# A word of an ID's characters that is not part of a longer word, nor the tail of a
# percent-escape ("2fadmin" in "..%2fadmin"). Longer words count letters beyond ASCII and
# combining marks, and go on past "-", "." and ":": neither "1234x" of "évènement-1234x",
# nor "4f2d-…" of a GUID with a Cyrillic e (U+0435) in it, nor its head before a Cyrillic o
# (U+043E) at its end (the possessive * does not give characters back to end before one).
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_WORD = re.compile(rf"(?<![\w%{_MARKS}])(?<!\w[.:-])[A-Za-z0-9][A-Za-z0-9._:-]*+(?![\w{_MARKS}])")
# Words of a ticket that look like IDs but are times or dates: "10:30", "2024-05-01",
# "27.11.2026", "2024-05-01T10:30:00Z".
_TIME_OR_DATE = re.compile(
    r"\d{1,2}:\d{2}(?::\d{2})?|\d{4}-\d{2}-\d{2}(?:T[\d:.]+Z?)?|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}"
)
# The whole input is a phone number as people write it: "+1 512 555 0147", "(512) 555-0147".
_PHONE_NUMBER = re.compile(r"(?:\+|\(\d)[\d\s().\-/]{6,}|\d{2,4}[\s.\-/(][\d\s().\-/]{5,}")
_SHOWN_CANDIDATES = 3
# Path segments that follow /events/ in LeadPing's API without being an event ID.
_SUB_RESOURCES = {"sms", "calls", "leads", "detail", "status", "raw.json"}
# A word mined from free text must look like an ID: long enough and holding a digit.
_MIN_MINED_LENGTH = 4
_QUERY_KEYS = ("eventId", "event_id", "eventid", "id", "q")


class InvalidEventId(ValueError):
    """The text is not an event ID the desk will send upstream."""


def is_valid_event_id(value: str) -> bool:
    return (
        isinstance(value, str)
        and _EVENT_ID.fullmatch(value) is not None
        and not holds_api_key(value)
    )


def holds_api_key(text: str) -> bool:
    """Whether `text` holds the desk's LeadPing API key (pasted by mistake: it fits an ID's
    characters), in any case. Such text is never sent to LeadPing as an ID."""
    key = settings.LEADPING_API_KEY
    return bool(key) and len(key) >= 8 and key.lower() in text.lower()


def lower_case_guid(value: str) -> str | None:
    """The lower-case form of a GUID written in capitals (tickets often do), else None."""
    if _GUID.fullmatch(value) and value != value.lower():
        return value.lower()
    return None


def validate_event_id(value: str) -> str:
    """Return `value` unchanged if it is a valid event ID, else raise InvalidEventId."""
    if not is_valid_event_id(value):
        raise InvalidEventId(describe_invalid_event_id(value))
    return value


def describe_invalid_event_id(value: str) -> str:
    """A sentence saying why `value` is not accepted as an event ID."""
    if not value or not value.strip():
        return "Enter an event ID."
    if len(value) > MAX_EVENT_ID_LENGTH:
        return f"Event IDs are at most {MAX_EVENT_ID_LENGTH} characters long."
    if holds_api_key(value):
        return (
            "That is the desk's LeadPing API key, not an event ID. It was not sent to "
            "LeadPing, and the audit trail has it as [redacted]; keep it out of tickets "
            "and chats."
        )
    return "Event IDs use only letters, digits and - _ . : and start with a letter or digit."


def extract_event_id(text: str) -> str:
    """Find the event ID in pasted text: a bare ID, a desk or API URL, or a sentence with one.

    Raises InvalidEventId with a message for the person when no single ID can be found.
    """
    text = _without_format_characters(text or "").strip()
    if not text:
        raise InvalidEventId("Enter an event ID, or paste a link or text that contains one.")
    if len(text) > MAX_LOOKUP_INPUT_LENGTH:
        raise InvalidEventId("That is too long to hold an event ID. Paste just the ID or link.")
    if is_valid_event_id(text):
        return text
    if _PHONE_NUMBER.fullmatch(text) and sum(ch.isdigit() for ch in text) >= 7:
        raise InvalidEventId(
            "That looks like a phone number. The desk looks events up by their event ID: "
            "paste the event's ID or a link to it."
        )
    urls = [m.group(0).rstrip(".,;)>]\"'") for m in _URL.finditer(text)]
    for url in urls:
        found = _id_from_url(url)
        if found:
            return found
    if urls and not _GUID.search(text):
        raise InvalidEventId("That link does not contain a valid event ID.")
    guids = {m.group(0) for m in _GUID.finditer(text)}
    if len(guids) == 1:
        return guids.pop()
    candidates = {
        word
        for word in (found.rstrip(".:") for found in _WORD.findall(text))
        if len(word) >= _MIN_MINED_LENGTH
        and any(ch.isdigit() for ch in word)
        and not _TIME_OR_DATE.fullmatch(word)
        and is_valid_event_id(word)
    }
    # In a sentence, bare digits that make a valid phone number are one ("call the customer
    # at 14155550198"): looking them up would send the number to LeadPing and the audit trail.
    numbers = {word for word in candidates if _is_phone_number(word)}
    if numbers and numbers == candidates:
        raise InvalidEventId(
            "That text holds a phone number, not an event ID. The desk looks events up by "
            "their event ID: paste the event's ID or a link to it."
        )
    candidates -= numbers
    if len(candidates) == 1:
        return candidates.pop()
    if len(guids) > 1 or len(candidates) > 1:
        found = sorted(guids) if len(guids) > 1 else sorted(candidates)
        shown = ", ".join(word[:40] for word in found[:_SHOWN_CANDIDATES])
        more = ", …" if len(found) > _SHOWN_CANDIDATES else ""
        raise InvalidEventId(
            f"That text holds more than one possible event ID ({shown}{more}). Paste just one."
        )
    raise InvalidEventId(
        "No event ID found. " + describe_invalid_event_id(text if len(text) < 200 else "x" * 200)
    )


def _is_phone_number(word: str) -> bool:
    """Ten or more bare digits that read as a valid number (shorter ones are taken for IDs)."""
    return len(word) >= 10 and is_phone_number_digits(word, settings.LEADPING_DEFAULT_REGION)


def has_invisible_characters(text: str) -> bool:
    """Whether `text` holds format characters extract_event_id leaves out (see below)."""
    return _without_format_characters(text) != text


def _without_format_characters(text: str) -> str:
    """The text without invisible format characters (Unicode Cf: zero-width space and joiners,
    soft hyphen, BOM, bidi controls), which tickets and chat tools put inside long IDs: left
    in, they split "0\u200bb7c6…" into words and the desk would look up "b7c6…" instead."""
    if text.isascii():
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def _id_from_url(url: str) -> str | None:
    """The event ID in a URL's path (…/events/<id>/…) or query (?eventId=<id>), if any."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    for index, segment in enumerate(segments[:-1]):
        if segment.lower() != "events":
            continue
        following = [s for s in segments[index + 1 :] if s.lower() not in _SUB_RESOURCES]
        if following and is_valid_event_id(following[0]):
            return following[0]
    query = parse_qs(parts.query)
    for key in _QUERY_KEYS:
        for value in query.get(key, []):
            if is_valid_event_id(value.strip()):
                return value.strip()
    return None
