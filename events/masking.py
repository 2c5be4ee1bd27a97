"""Phone numbers hidden but for their last four digits, for staff without the permission.

Masking happens on the EventDetail before anything is rendered, so the page, the live
fragment, the raw JSON, the copy buttons and the download all get the masked text.
"""

import dataclasses
import json
import re
from typing import Any

import phonenumbers

from events.detail import EventDetail, load_json

MASK = "•••"
_KEPT_DIGITS = 4
# Free text is scanned for numbers too: a summary may quote the lead's number.
_FREE_TEXT_FIELDS = ("summary", "description", "status_reason")
_PHONE_KEY = re.compile(r"phone(number)?s?$", re.IGNORECASE)


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
_DIGIT_RUN = re.compile(r"\+?\d(?:[\s().\-/]{0,3}\d){6,}")


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
        return text

    def json_text(self, text: str) -> str:
        """Mask phone fields by name and numbers inside every string of a JSON document."""
        try:
            document = load_json(text)
        except (ValueError, RecursionError):
            return self.text(text)
        try:
            masked = self._json_value(document, key=None)
            return json.dumps(masked, indent=2, ensure_ascii=False)
        except RecursionError:
            return MASK

    def _json_value(self, value: Any, *, key: str | None) -> Any:
        if isinstance(value, dict):
            return {k: self._json_value(v, key=str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self._json_value(item, key=key) for item in value]
        if isinstance(value, str):
            if key is not None and _PHONE_KEY.search(key):
                return mask_number(value)
            if key == "fullPayload":
                return self.json_text(value)
            return self.text(value)
        if isinstance(value, int | float) and key is not None and _PHONE_KEY.search(key):
            return mask_number(str(value))
        return value


def _masked_match(match: re.Match[str]) -> str:
    return mask_number(match.group())


def mask_phone_numbers(detail: EventDetail, *, region: str) -> EventDetail:
    """A copy of `detail` whose phone numbers show only their last four digits."""
    masker = _Masker(region)
    changes: dict[str, Any] = {
        "from_phone_number": _mask_optional(detail.from_phone_number),
        "to_phone_number": _mask_optional(detail.to_phone_number),
    }
    for name in _FREE_TEXT_FIELDS:
        value = getattr(detail, name)
        changes[name] = masker.text(value) if value else value
    changes["raw_json"] = masker.json_text(detail.raw_json)
    if detail.full_payload:
        changes["full_payload"] = masker.json_text(detail.full_payload)
    return dataclasses.replace(detail, **changes)


def _mask_optional(value: str | None) -> str | None:
    return mask_number(value) if value else value
