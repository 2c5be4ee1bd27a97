"""Phone numbers hidden but for their last four digits, for staff without the permission.

Masking happens on the EventDetail before anything is rendered, so the page, the live
fragment, the raw JSON, the copy buttons and the download all get the masked text. Every
text LeadPing sent may hold a number (a user's name, a status, an ID, a timestamp that
could not be read), so every one is scanned; the numbers fields are masked whole.
"""

import dataclasses
import re
from typing import Any

import phonenumbers

from events.detail import EventDetail, EventUser, Moment, json_text, load_json

MASK = "•••"
_KEPT_DIGITS = 4
_NUMBER_FIELDS = ("from_phone_number", "to_phone_number")
# Not scanned: the JSON is masked apart; the event's own ID only when it is the one asked
# for, which is in the page's address already (LeadPing may answer with another).
_UNSCANNED_FIELDS = ("id", "raw_json", "full_payload", "problems", *_NUMBER_FIELDS)
# JSON keys whose values are phone numbers, by their last word ("toPhoneNumber", "mobile",
# "cell_phone", "faxNo"), not IDs of numbers ("fromPhoneNumberId").
_PHONE_WORDS = frozenset({"phone", "mobile", "cell", "cellphone", "msisdn", "fax", "tel"})
_NUMBER_WORDS = frozenset({"number", "numbers", "no", "num", "nr"})
_KEY_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
# E.164: at most 15 digits; fewer than 8 is no number anyone could call across borders.
_E164_DIGITS = range(8, 16)


def mask_number(value: str) -> str:
    """Keep the last four digits of a number; anything without digits is masked whole."""
    digits = [ch for ch in value if ch.isdigit()]
    if len(digits) <= _KEPT_DIGITS:
        return MASK
    return f"{MASK}{''.join(digits[-_KEPT_DIGITS:])}"


# phonenumbers' matcher finds numbers as people write them, but reads about a megabyte of
# text a second here. It reads at most this much of one event; texts that do not fit in
# what is left (a hostile answer: hundreds of kilobytes) are masked by pattern instead,
# every run of 7 or more digits, IDs and dates too: over-masking rather than leaking.
MATCHER_BUDGET = 20_000
_DIGIT = re.compile(r"\d")
# What people and tools put between a number's digits: blanks (no-break ones too),
# ( ) . - / and the Unicode dashes and minus sign.
_SEPARATOR = r"[\s().\-/\u2010-\u2015\u2212]"
_DIGIT_RUN = re.compile(rf"\+?\d(?:{_SEPARATOR}{{0,3}}\d){{6,}}")
# The same, not part of a longer run of digits: in "ID14155550124" or "Call+14155550123now"
# phonenumbers' matcher sees one word, not a number.
_RUN_IN_A_WORD = re.compile(rf"(?<!\d)\+?\d(?:{_SEPARATOR}{{0,3}}\d){{6,}}(?!\d)")


class _Masker:
    """Masks the texts of one event, sharing one budget of text for phonenumbers' matcher."""

    def __init__(self, region: str, budget: int = MATCHER_BUDGET) -> None:
        self.region = region
        self.budget = budget

    def text(self, text: str) -> str:
        if not text or not _DIGIT.search(text):
            return text
        if len(text) > self.budget:
            # Whole, never cut: a number across the cut would escape both ways of masking.
            return _DIGIT_RUN.sub(_masked_match, text)
        self.budget -= len(text)
        try:
            matches = list(phonenumbers.PhoneNumberMatcher(text, self.region))
        except Exception:
            return _DIGIT_RUN.sub(_masked_match, text)
        for match in reversed(matches):
            text = text[: match.start] + mask_number(match.raw_string) + text[match.end :]
        return _RUN_IN_A_WORD.sub(self._masked_if_a_number, text)

    def _masked_if_a_number(self, match: re.Match[str]) -> str:
        """A run of digits the matcher left, masked if it reads as a valid number (with an
        international 00 prefix, too): "ID14155550124", "0044 20 7946 0958". Not inside a
        long hexadecimal ID (a GUID's "84441602-85b4…" holds "844 416 0285")."""
        if _HEX_ID.fullmatch(_word_around(match)):
            return match.group()
        digits = "".join(ch for ch in match.group() if ch.isdigit())
        for candidate in (digits, digits[2:] if digits.startswith("00") else ""):
            if candidate and is_phone_number_digits(candidate, self.region):
                return mask_number(match.group())
        return match.group()

    def json_text(self, text: str) -> str:
        """Mask phone fields by name and numbers inside every string of a JSON document."""
        try:
            document = load_json(text)
        except (ValueError, RecursionError):
            return self.text(text)
        try:
            masked = self._json_value(document, key=None)
            return json_text(masked)
        except RecursionError:
            return MASK

    def _json_value(self, value: Any, *, key: str | None) -> Any:
        if isinstance(value, dict):
            # A name may be a number too ({"+14155550123": "Ann"}).
            return {self.text(str(k)): self._json_value(v, key=str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self._json_value(item, key=key) for item in value]
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            if key is not None and is_phone_key(key):
                return mask_number(value)
            if key == "fullPayload":
                return self.json_text(value)
            return self.text(value)
        if isinstance(value, int | float) and key is not None and is_phone_key(key):
            return mask_number(str(value))
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
            value = int(value) if _is_phone_number(int(value), self.region) else value
        if isinstance(value, int) and _is_phone_number(value, self.region):
            return mask_number(str(value))
        return value


# A GUID or a long hexadecimal ID: 16 hex digits or more, some of them letters, in groups.
_HEX_ID = re.compile(r"(?=(?:-?[0-9a-fA-F]){16})(?=[0-9-]*[a-fA-F])[0-9a-fA-F]+(?:-[0-9a-fA-F]+)*")
_WORD_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-")


def _word_around(match: re.Match[str]) -> str:
    """The word of letters, digits, _ and - that holds the match."""
    text, start, end = match.string, match.start(), match.end()
    while start > 0 and text[start - 1] in _WORD_CHARS:
        start -= 1
    while end < len(text) and text[end] in _WORD_CHARS:
        end += 1
    return text[start:end]


def is_phone_key(key: str) -> bool:
    """Whether a JSON key names a phone number: its last word, or the one before "number"."""
    words = [word.lower() for word in _KEY_WORD.findall(key)]
    if len(words) > 1 and words[-1] in _NUMBER_WORDS:
        words.pop()
    return bool(words) and words[-1].removesuffix("s") in _PHONE_WORDS


def _is_phone_number(value: int, region: str) -> bool:
    """A JSON number that reads as a valid number, as the same digits in a text would."""
    return is_phone_number_digits(str(abs(value)), region)


def is_phone_number_digits(digits: str, region: str) -> bool:
    """Bare digits that read as a valid number: international once given their "+", or
    national in `region` (4155550123)."""
    if not digits.isdigit() or len(digits) not in _E164_DIGITS:
        return False
    for text in (f"+{digits}", digits):
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(text, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


def _masked_match(match: re.Match[str]) -> str:
    return mask_number(match.group())


def mask_text(text: str, *, region: str) -> str:
    """`text` (a message from LeadPing, a status kept in the audit trail) with its phone
    numbers showing only their last four digits."""
    return _Masker(region).text(text)


def mask_phone_numbers(
    detail: EventDetail, *, region: str, requested_id: str | None = None
) -> EventDetail:
    """A copy of `detail` whose phone numbers show only their last four digits."""
    masker = _Masker(region)
    changes: dict[str, Any] = {
        name: _mask_optional(getattr(detail, name)) for name in _NUMBER_FIELDS
    }
    if detail.id != requested_id:
        changes["id"] = masker.text(detail.id)
    for field in dataclasses.fields(detail):
        if field.name in _UNSCANNED_FIELDS:
            continue
        value = getattr(detail, field.name)
        if isinstance(value, str):
            changes[field.name] = masker.text(value)
        elif isinstance(value, Moment) and not value.is_valid:
            # Shown as received when it cannot be read as a time.
            changes[field.name] = dataclasses.replace(value, raw=masker.text(value.raw))
        elif isinstance(value, EventUser):
            changes[field.name] = EventUser(
                id=masker.text(value.id) if value.id else value.id,
                name=masker.text(value.name) if value.name else value.name,
            )
    changes["repeated_names"] = tuple(masker.text(name) for name in detail.repeated_names)
    changes["raw_json"] = masker.json_text(detail.raw_json)
    if detail.full_payload:
        changes["full_payload"] = masker.json_text(detail.full_payload)
    return dataclasses.replace(detail, **changes)


def _mask_optional(value: str | None) -> str | None:
    return mask_number(value) if value else value
