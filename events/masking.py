"""Phone numbers hidden but for their last four digits, for staff without the permission.

Masking happens on the EventDetail before anything is rendered, so the page, the live
fragment, the raw JSON, the copy buttons and the download all get the masked text. Every
text LeadPing sent may hold a number (a user's name, a status, an ID, a timestamp that
could not be read), so every one is scanned; the numbers fields are masked whole.
"""

import dataclasses
import functools
import re
import unicodedata
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
# What people and tools put between a number's digits: blanks (a run of them, no-break ones
# too, or "%20" in a link), ( ) . - / _ | ; · ・ and the Unicode dashes and minus sign. Not
# "," or ":", which group amounts and times ("$50,827,072.31", "06:18:41").
_SEPARATOR = r"(?:\s++|%20|[().\-/_|;\u00b7\u2010-\u2015\u2027\u2212\u30fb])"
_DIGIT_RUN = re.compile(rf"\+?\d(?:{_SEPARATOR}{{0,3}}\d){{6,}}")
# The same, not part of a longer run of digits: in "ID14155550124" or "Call+14155550123now"
# phonenumbers' matcher sees one word, not a number. Nor a part of a time: in
# "2026-11-28 20:27:59", "2026-11-28 20" would read as a number of Washington, DC.
_RUN_IN_A_WORD = re.compile(rf"(?<!\d)(?<!\d:)\+?\d(?:{_SEPARATOR}{{0,3}}\d){{6,}}(?!\d|:\d)")
# A match the matcher finds inside a time ("26.08.2020 01" of "26.08.2020 01:15:26").
_TIME_AROUND = (re.compile(r"\d:$"), re.compile(r"^:\d"))
# An IPv4 address or a version ("218.4.184.194", "48.864.357.287"): no group of four digits,
# as the last of a number has.
_DOTTED = re.compile(r"\d{1,3}(?:\.\d{1,3}){3,}")
_SEPARATORS = re.compile(f"{_SEPARATOR}+")


def _invisible_characters() -> str:
    """A regex class body: the characters that hide between digits without showing. Format
    characters (direction marks, zero-width joiners, the soft hyphen, tags), combining and
    enclosing marks, variation selectors, blank fillers, and U+FFFD (what the page shows a
    direction mark as: it is replaced before masking)."""
    points = [
        code for code in range(0x10000) if unicodedata.category(chr(code)) in {"Cf", "Mn", "Me"}
    ]
    points += [*range(0xE0000, 0xE0080), *range(0xE0100, 0xE01F0), *range(0x1D173, 0x1D17B)]
    points += [0x115F, 0x1160, 0x2800, 0x3164, 0xFFA0, 0xFFFD]
    ranges: list[list[int]] = []
    for code in sorted(set(points)):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(
        re.escape(chr(first)) + (f"-{re.escape(chr(last))}" if last > first else "")
        for first, last in ranges
    )


# Invisible next to a digit, where they only hide a number from both ways of finding it
# ("4\u200e15", "4\u030115"): left out before masking.
_INVISIBLE = _invisible_characters()
_INVISIBLE_BY_A_DIGIT = re.compile(f"(?<=\\d)[{_INVISIBLE}]+|[{_INVISIBLE}]+(?=[+\\d])")


class _Masker:
    """Masks the texts of one event, sharing one budget of text for phonenumbers' matcher."""

    def __init__(self, region: str, budget: int = MATCHER_BUDGET) -> None:
        self.region = region
        self.budget = budget

    def text(self, text: str) -> str:
        if not text or not _DIGIT.search(text):
            return text
        text = _INVISIBLE_BY_A_DIGIT.sub("", text)
        if len(text) > self.budget:
            # Whole, never cut: a number across the cut would escape both ways of masking.
            return _DIGIT_RUN.sub(_masked_match, text)
        self.budget -= len(text)
        try:
            matches = list(phonenumbers.PhoneNumberMatcher(text, self.region))
        except Exception:
            return _DIGIT_RUN.sub(_masked_match, text)
        for match in reversed(matches):
            before, after = text[max(0, match.start - 2) : match.start], text[match.end :][:2]
            if _TIME_AROUND[0].search(before) or _TIME_AROUND[1].match(after):
                continue
            if _DOTTED.fullmatch(match.raw_string):
                continue
            text = text[: match.start] + mask_number(match.raw_string) + text[match.end :]
        return _RUN_IN_A_WORD.sub(self._masked_if_a_number, text)

    def _masked_if_a_number(self, match: re.Match[str]) -> str:
        """A run of digits the matcher left, masked if it reads as a valid number (with an
        international 00 prefix, too): "ID14155550124", "0044 20 7946 0958". Not inside a
        GUID or long hexadecimal ID (a GUID's "84441602-85b4…" holds "844 416 0285")."""
        run = match.group()
        if _inside_a_hex_id(match) or _DOTTED.fullmatch(run):
            return run
        # The whole run, then what follows each separator: in "Attempt 3 415 555 0123" the
        # number starts after the first blank.
        for start in (0, *(separators.end() for separators in _SEPARATORS.finditer(run))):
            digits = "".join(ch for ch in run[start:].replace("%20", " ") if ch.isdigit())
            for candidate in (digits, digits[2:] if digits.startswith("00") else ""):
                if candidate and is_phone_number_digits(candidate, self.region):
                    return run[:start] + mask_number(run[start:])
        return run

    def json_text(self, text: str) -> str:
        """Mask phone fields by name and numbers inside every string of a JSON document."""
        try:
            document = load_json(text)
        except (ValueError, RecursionError):
            return self.text(text)
        try:
            return json_text(self._masked_document(document))
        except RecursionError:
            # Too deep to write back: every run of digits, as past the matcher's budget.
            return _DIGIT_RUN.sub(_masked_match, text)

    def _masked_document(self, document: Any) -> Any:
        """The decoded document masked in place, iteratively: it may be nested deeper than
        Python's recursion limit. A name may be a number too ({"+14155550123": "Ann"})."""
        if not isinstance(document, dict | list):
            return self._value(document, key=None)
        stack: list[tuple[dict[str, Any] | list[Any], str | None]] = [(document, None)]
        while stack:
            item, key = stack.pop()
            if isinstance(item, dict):
                entries = list(item.items())
                item.clear()
                for name, value in entries:
                    item[self.text(name)] = self._value(value, key=name)
                    if isinstance(value, dict | list):
                        stack.append((value, name))
            else:
                for index, value in enumerate(item):
                    if isinstance(value, dict | list):
                        stack.append((value, key))  # a list's items are its name's values
                    else:
                        item[index] = self._value(value, key=key)
        return document

    def _value(self, value: Any, *, key: str | None) -> Any:
        """One value of the document, under the name `key`; objects and lists as they are."""
        if isinstance(value, bool | dict | list) or value is None:
            return value
        if isinstance(value, str):
            if key is not None and is_phone_key(key):
                return mask_number(value)
            if key == "fullPayload":
                return self.json_text(value)
            return self.text(value)
        if key is not None and is_phone_key(key):
            return mask_number(str(value))
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
            return mask_number(str(int(value))) if self._number(int(value)) else value
        if isinstance(value, int) and self._number(value):
            return mask_number(str(value))
        return value

    def _number(self, value: int) -> bool:
        """Whether a JSON number reads as a valid phone number, as the same digits in a text
        would. Checked within the matcher's budget (a digit counts as a character); past
        it, every number of a phone number's length is taken for one: over-masking."""
        digits = str(abs(value)) if -(10**16) < value < 10**16 else ""
        if len(digits) not in _E164_DIGITS:
            return False
        if self.budget < len(digits):
            return True
        self.budget -= len(digits)
        return is_phone_number_digits(digits, self.region)


# A GUID (8-4-4-4-12 hex digits), or 16 hex digits or more in one piece, some of them letters.
_HEX_ID = re.compile(
    r"(?<![0-9a-fA-F])(?:[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"
    r"|(?=[0-9]*[a-fA-F])[0-9a-fA-F]{16,})(?![0-9a-fA-F])"
)
_WORD_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-")


def _inside_a_hex_id(match: re.Match[str]) -> bool:
    """Whether the match lies within a GUID or long hexadecimal ID of the word that holds
    it (a word of letters, digits, _ and -): "evt_84441602-85b4-…", not "a1b2…b8-4155550123"."""
    text, start, end = match.string, match.start(), match.end()
    while start > 0 and text[start - 1] in _WORD_CHARS:
        start -= 1
    while end < len(text) and text[end] in _WORD_CHARS:
        end += 1
    return any(
        found.start() <= match.start() and match.end() <= found.end()
        for found in _HEX_ID.finditer(text, start, end)
    )


@functools.lru_cache(maxsize=1024)  # a document repeats its names
def is_phone_key(key: str) -> bool:
    """Whether a JSON key names a phone number: its last word, or the one before "number"."""
    words = [word.lower() for word in _KEY_WORD.findall(key)]
    if len(words) > 1 and words[-1] in _NUMBER_WORDS:
        words.pop()
    return bool(words) and words[-1].removesuffix("s") in _PHONE_WORDS


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
    if len(text) <= _REMEMBERED_TEXT_LENGTH:
        return _masked_text(text, region)
    return _Masker(region).text(text)


# The audit trail shows the same IDs and statuses page after page, each masked anew by
# phonenumbers' matcher (a millisecond for a sentence): short texts are remembered.
_REMEMBERED_TEXT_LENGTH = 1000


@functools.lru_cache(maxsize=8192)
def _masked_text(text: str, region: str) -> str:
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
