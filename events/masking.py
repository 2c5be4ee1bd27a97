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


def mask_text(text: str, *, region: str) -> str:
    """Mask every phone number phonenumbers can find in free text."""
    if not text or not any(ch.isdigit() for ch in text):
        return text
    try:
        matches = list(phonenumbers.PhoneNumberMatcher(text[:10000], region))
    except Exception:
        return mask_number(text)
    for match in reversed(matches):
        text = text[: match.start] + mask_number(match.raw_string) + text[match.end :]
    return text


def mask_phone_numbers(detail: EventDetail, *, region: str) -> EventDetail:
    """A copy of `detail` whose phone numbers show only their last four digits."""
    changes: dict[str, Any] = {
        "from_phone_number": _mask_optional(detail.from_phone_number),
        "to_phone_number": _mask_optional(detail.to_phone_number),
        "raw_json": _mask_json_text(detail.raw_json, region=region),
    }
    for name in _FREE_TEXT_FIELDS:
        value = getattr(detail, name)
        changes[name] = mask_text(value, region=region) if value else value
    if detail.full_payload:
        changes["full_payload"] = _mask_json_text(detail.full_payload, region=region)
    return dataclasses.replace(detail, **changes)


def _mask_optional(value: str | None) -> str | None:
    return mask_number(value) if value else value


def _mask_json_text(text: str, *, region: str) -> str:
    """Mask phone fields by name and numbers inside every string of a JSON document."""
    try:
        document = load_json(text)
    except (ValueError, RecursionError):
        return mask_text(text, region=region)
    try:
        masked = _mask_json_value(document, key=None, region=region)
        return json.dumps(masked, indent=2, ensure_ascii=False)
    except RecursionError:
        return MASK


def _mask_json_value(value: Any, *, key: str | None, region: str) -> Any:
    if isinstance(value, dict):
        return {k: _mask_json_value(v, key=str(k), region=region) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_json_value(item, key=key, region=region) for item in value]
    if isinstance(value, str):
        if key is not None and _PHONE_KEY.search(key):
            return mask_number(value)
        if key == "fullPayload":
            return _mask_json_text(value, region=region)
        return mask_text(value, region=region)
    if isinstance(value, int | float) and key is not None and _PHONE_KEY.search(key):
        return mask_number(str(value))
    return value
