"""The LeadPing API client: every upstream HTTP call of the desk goes through this module.

Contract: ../shared/leadping-api/event-detail-reference.txt and README.md beside it.
"""

import dataclasses
import functools
import http.client
import json
import logging
import math
import re
import threading
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings
from requests.models import PreparedRequest
from urllib3.exceptions import InvalidHeader as InvalidHeaderInAnswer
from urllib3.exceptions import ReadTimeoutError

from events import after_response
from events.detail import (
    EventDetail,
    NotAnEvent,
    load_json,
    parse_event_detail,
    without_bidi_controls,
)
from events.event_ids import validate_event_id
from events.http_deadline import DeadlineAdapter, Exchange, deadline
from events.logs import REDACTED, redact

logger = logging.getLogger(__name__)

USER_AGENT = "LeadPing-Event-Desk/0.1 (support dashboard; python-requests)"
MAX_BODY_BYTES = 2 * 1024 * 1024
# LeadPing's limit is per 60 s: a longer Retry-After is honoured up to five minutes, after
# which one call asks again, so that one wrong header cannot stop the whole desk for hours.
_MAX_RETRY_AFTER = 300
# RFC 9110 delta-seconds is digits; a decimal fraction is tolerated, "1e9" or "inf" is not.
_DELTA_SECONDS = re.compile(r"\d+(?:\.\d{1,6})?")


class LeadPingError(Exception):
    """Base of the errors an upstream call can end in; `message` is safe to show staff."""

    message = "LeadPing could not be reached."

    def __init__(self, message: str | None = None, *, status_code: int | None = None) -> None:
        self.message = message or self.message
        self.status_code = status_code
        super().__init__(self.message)


class EventNotFound(LeadPingError):
    message = "LeadPing has no event with this ID."


class NotAuthorised(LeadPingError):
    """401 (missing or invalid API key) or 403 (the key may not read this event)."""

    message = "LeadPing refused the desk's API key."


class RateLimited(LeadPingError):
    message = "LeadPing's rate limit for this business is used up."

    def __init__(self, message: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(message, status_code=429)
        self.retry_after = retry_after


class UpstreamUnavailable(LeadPingError):
    """Timeouts, connection errors and 5xx answers; `retryable` when a retry may help."""

    message = "LeadPing is not answering right now."

    def __init__(
        self, message: str | None = None, *, status_code: int | None = None, retryable: bool = False
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retryable = retryable


class BadPayload(LeadPingError):
    """An answer the desk cannot read: not JSON, the wrong shape, or an unexpected status."""

    message = "LeadPing sent an answer the desk cannot read."


_session_lock = threading.Lock()
_shared_session: requests.Session | None = None


def _session() -> requests.Session:
    """One keep-alive session per process, shared by all threads (its pool is thread-safe)."""
    global _shared_session
    if _shared_session is None:
        with _session_lock:
            if _shared_session is None:
                session = requests.Session()
                adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
                session.trust_env = False
                _shared_session = session
    return _shared_session


def event_detail_url(event_id: str) -> str:
    """The upstream URL for an event; the ID is validated and encoded as one path segment."""
    segment = quote(validate_event_id(event_id), safe="")
    return f"{settings.LEADPING_API_BASE_URL}/events/{segment}/detail"


def fetch_event_detail(
    event_id: str, *, within: float | None = None, headers: dict[str, str] | None = None
) -> EventDetail:
    """GET /events/{eventId}/detail once and parse it, or raise a LeadPingError.

    `within` caps the whole call, body included, in seconds (default: connect + read timeout).
    """
    url = event_detail_url(event_id)
    budget = settings.LEADPING_CONNECT_TIMEOUT + settings.LEADPING_READ_TIMEOUT
    budget = min(budget, within) if within is not None else budget
    started = time.monotonic()
    session = _session()
    # Each socket read is bounded by the read timeout; the whole exchange, by `budget`.
    with deadline(budget) as exchange:
        try:
            # Prepared and handed to the session's adapter: Session.get would also merge
            # cookies, environment proxies and hooks, and Session.send persist cookies and
            # follow redirects, none of which the desk uses (a tenth of a millisecond a call).
            request = PreparedRequest()
            request.prepare_method("GET")
            request.prepare_url(url, None)
            request.prepare_headers(
                {
                    **session.headers,
                    "Authorization": f"Bearer {settings.LEADPING_API_KEY}",
                    **(headers or {}),
                }
            )
            response = session.get_adapter(url).send(
                request,
                stream=True,
                timeout=(
                    min(settings.LEADPING_CONNECT_TIMEOUT, budget),
                    min(settings.LEADPING_READ_TIMEOUT, budget),
                ),
            )
        except requests.RequestException as exc:
            if isinstance(exc, requests.Timeout) or exchange.expired:
                _log(event_id, "timeout", started)
                # Only a connection that could not be made is tried again. A read timeout is
                # LeadPing holding the request: asking again within what is left of the
                # deadline would mostly double its load while it is slow.
                raise UpstreamUnavailable(
                    "LeadPing did not answer in time.",
                    retryable=isinstance(exc, requests.ConnectTimeout) and not exchange.expired,
                ) from None
            if _is_not_http(exc):
                # It answered, but not in HTTP/1.1 the desk can read (a bad status line, an
                # over-long header): asking again would get the same.
                _log(event_id, "unreadable answer", started)
                raise BadPayload("LeadPing's answer is not HTTP the desk can read.") from None
            _log(event_id, f"connection error ({type(exc).__name__})", started)
            raise UpstreamUnavailable(
                "The desk could not connect to LeadPing.", retryable=True
            ) from None
        try:
            body = _read_body(response, exchange)
        except LeadPingError:
            _log(event_id, "timeout" if exchange.expired else "answer cut short", started)
            raise
        finally:
            # Not cut off once the connection can go back to the pool for another call.
            exchange.finish()
            response.close()
    _log(event_id, str(response.status_code), started)
    if response.status_code == 200:
        return _parse_success(body, event_id)
    raise _error_for(response, body)


def _log(event_id: str, outcome: str, started: float) -> None:
    elapsed_ms = (time.monotonic() - started) * 1000
    if not logger.isEnabledFor(logging.INFO):
        return
    # The record is made now (its time is the call's); writing it out waits for the response.
    record = logger.makeRecord(
        logger.name,
        logging.INFO,
        __file__,
        0,
        "leadping GET event detail id=%s outcome=%s %.0fms",
        (event_id, outcome, elapsed_ms),
        None,
    )
    after_response.defer(partial(logger.handle, record))


def _read_body(response: requests.Response, exchange: Exchange) -> bytes:
    """Read at most MAX_BODY_BYTES, before the exchange's deadline (slow drips included)."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise BadPayload("LeadPing's answer is too large to show.")
            chunks.append(chunk)
    except requests.exceptions.ContentDecodingError:
        raise BadPayload("LeadPing's answer could not be decompressed.") from None
    except requests.RequestException as exc:
        if not exchange.expired:
            if _is_read_timeout(exc):
                # requests reports a read timeout in the body as a ConnectionError: it is
                # LeadPing holding the answer, not tried again (fetch_event_detail).
                raise UpstreamUnavailable("LeadPing did not finish answering in time.") from None
            raise UpstreamUnavailable(
                "The connection to LeadPing broke mid-answer.", retryable=True
            ) from None
    except (ValueError, http.client.HTTPException, OSError):
        # Framing http.client itself cannot read, below what requests wraps: a negative
        # chunk size raises a bare ValueError.
        if not exchange.expired:
            raise UpstreamUnavailable(
                "The connection to LeadPing broke mid-answer.", retryable=True
            ) from None
    if exchange.expired:
        # Whatever was read is cut short, even when it parses (headers cut off mid-line).
        # Not tried again, as a read timeout is not (fetch_event_detail).
        raise UpstreamUnavailable("LeadPing did not finish answering in time.")
    return b"".join(chunks)


def _is_not_http(exc: requests.RequestException) -> bool:
    """An answer http.client could not parse (urllib3 wraps it in a ProtocolError), other
    than a connection closed before any answer, which is a connection problem; or headers
    urllib3 refuses (two different Content-Lengths)."""
    if any(isinstance(cause, InvalidHeaderInAnswer) for cause in exc.args):
        return True
    causes = [cause for error in exc.args for cause in getattr(error, "args", ())]
    return any(
        isinstance(cause, http.client.HTTPException)
        and not isinstance(cause, http.client.RemoteDisconnected)
        for cause in causes
    )


def _is_read_timeout(exc: requests.RequestException) -> bool:
    """A socket read that timed out, which requests' iter_content raises as ConnectionError."""
    return isinstance(exc, requests.Timeout) or any(
        isinstance(cause, ReadTimeoutError) for cause in (*exc.args, exc.__context__)
    )


def _decode_json(body: bytes, *, repeated: set[str] | None = None) -> Any:
    try:
        return load_json(body, repeated=repeated)
    except ValueError:
        raise BadPayload("LeadPing's answer is not valid JSON.") from None
    except RecursionError:
        # Thousands of arrays or objects inside each other: JSON, but past what Python's
        # reader takes; said as such, not as broken JSON.
        raise BadPayload("LeadPing's answer is nested too deeply to read.") from None


def _parse_success(body: bytes, event_id: str) -> EventDetail:
    repeated: set[str] = set()
    payload = _without_api_key_in(_decode_json(_without_api_key(body), repeated=repeated), body)
    key = settings.LEADPING_API_KEY
    if repeated and key and len(key) >= 8:
        repeated = {_without_key_in_text(name, key) for name in repeated}
    try:
        detail = parse_event_detail(payload, requested_id=event_id, repeated_names=repeated)
    except NotAnEvent:
        reason = _problem_text(payload)
        message = "LeadPing's answer holds none of an event's fields" + (
            f": {reason}" if reason else ""
        )
        # A sentence of its own: pages go on after it ("This is usually …").
        message += "" if message.endswith((".", "!", "?")) else "."
        raise BadPayload(message) from None
    except (TypeError, ValueError, RecursionError):
        raise BadPayload("LeadPing's answer is not an event object.") from None
    if detail.full_payload and key and len(key) >= 8:
        # fullPayload is JSON inside a string, decoded once more: its escapes hide the key too.
        full_payload = _key_text_pattern(key).sub(REDACTED, detail.full_payload)
        if full_payload != detail.full_payload:
            detail = dataclasses.replace(detail, full_payload=full_payload)
    return detail


def _without_api_key(body: bytes) -> bytes:
    """The answer with the desk's API key blanked, should LeadPing ever echo it back: staff
    see everything in an answer, and the key must never reach a browser."""
    key = settings.LEADPING_API_KEY
    if not key or len(key) < 8:
        return body
    # In any case too: an echo of "bearer lp_abc…" lower-cased gives the key away as well.
    if key.lower().encode() not in body.lower():
        return body
    return _key_pattern(key).sub(REDACTED.encode(), body)


@functools.lru_cache(maxsize=2)
def _key_pattern(key: str) -> re.Pattern[bytes]:
    return re.compile(re.escape(key.encode()), re.IGNORECASE)


@functools.lru_cache(maxsize=2)
def _key_text_pattern(key: str) -> re.Pattern[str]:
    """The key in decoded text, in any case: as in the bytes, "LP_…" gives it away too."""
    return re.compile(re.escape(key), re.IGNORECASE)


def _without_api_key_in(payload: Any, body: bytes) -> Any:
    """The decoded answer with the key blanked in every text and name: JSON may spell it with
    escapes ("lp\\u005f…") or the body be UTF-16, which the bytes above do not show."""
    key = settings.LEADPING_API_KEY
    if not key or len(key) < 8 or (b"\\" not in body and json.detect_encoding(body) == "utf-8"):
        return payload
    # Iterative, in place (the payload was just decoded): it may be nested very deep.
    pattern = _key_text_pattern(key)
    stack = [payload]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            entries = list(item.items())
            item.clear()
            for name, value in entries:
                item[pattern.sub(REDACTED, name)] = (
                    _without_key_in_text(value, key) if isinstance(value, str) else value
                )
                stack.append(value)
        elif isinstance(item, list):
            for index, value in enumerate(item):
                if isinstance(value, str):
                    item[index] = _without_key_in_text(value, key)
                else:
                    stack.append(value)
    return _without_key_in_text(payload, key) if isinstance(payload, str) else payload


def _without_key_in_text(text: str, key: str) -> str:
    """A text with the key blanked, JSON inside it included: fullPayload is JSON in a string,
    whose own escapes ("lp\\u005f…" in the body) hide the key until it is decoded again, as
    the page, the masking and anyone reading the download do."""
    pattern = _key_text_pattern(key)
    text = pattern.sub(REDACTED, text)
    if "\\" not in text or not text.lstrip().startswith(("{", "[")):
        return text
    try:
        inner = load_json(text)
    except (ValueError, RecursionError):
        return text
    if not isinstance(inner, dict | list):
        return text
    try:
        if not pattern.search(json.dumps(inner, ensure_ascii=False)):
            return text
        cleaned = _without_api_key_in(inner, b"\\")
        return json.dumps(cleaned, ensure_ascii=False)
    except (ValueError, RecursionError):
        return REDACTED


def _problem_detail(body: bytes) -> str | None:
    """The `detail` (or `title`) of an RFC 9457 problem body, if there is a readable one,
    with credentials blanked (it is shown on error pages)."""
    try:
        problem = load_json(body)
    except (ValueError, RecursionError):
        return None
    return _problem_text(problem)


def _problem_text(problem: Any) -> str | None:
    if not isinstance(problem, dict):
        return None
    for key in ("detail", "title"):
        text = problem.get(key)
        if isinstance(text, str) and text.strip():
            # Shown on error pages and in htmx's plain-text errors, as the fields are: a
            # bidirectional control there would reorder the text around it.
            return redact(without_bidi_controls(text.strip()))[:300]
    return None


def _error_for(response: requests.Response, body: bytes) -> LeadPingError:
    status = response.status_code
    detail = _problem_detail(body)
    if status in (400, 404, 410, 422):
        return EventNotFound(status_code=status)
    if status in (401, 403):
        message = (
            "LeadPing did not accept the desk's API key (401)."
            if status == 401
            else "LeadPing does not allow the desk's API key to read this event (403)."
        )
        return NotAuthorised(message, status_code=status)
    if status == 429:
        return RateLimited(retry_after=parse_retry_after(response.headers.get("Retry-After")))
    if status == 408 or status >= 500:
        message = f"LeadPing answered with an error (HTTP {status})"
        message += f": {detail}" if detail else ""
        # A sentence of its own: pages go on after it ("… Showing the last copy …").
        message += "" if message.endswith((".", "!", "?")) else "."
        # A Retry-After says when LeadPing expects to be back: asking again at once, within
        # the same page view, would only add to its load.
        asks_to_wait = bool(parse_retry_after(response.headers.get("Retry-After")))
        return UpstreamUnavailable(
            message,
            status_code=status,
            retryable=status in (502, 503, 504) and not asks_to_wait,
        )
    return BadPayload(f"LeadPing answered with unexpected HTTP {status}.", status_code=status)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        # Any number of digits: a huge one is "a long time" (capped below), not unreadable.
        seconds = float(value) if len(value) <= 20 else math.inf
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        try:
            seconds = (when - (now or datetime.now(UTC))).total_seconds()
        except (TypeError, OverflowError):
            return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)
