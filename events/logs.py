"""Log records with the request ID, as plain lines or JSON lines, with credentials blanked.

settings.LOGGING attaches `RequestIdFilter` to the console handler and picks
`PlainFormatter` or `JsonFormatter` (DJANGO_LOG_FORMAT=json). Both formatters replace the
LeadPing API key, the metrics token and any `Bearer …` credential with `[redacted]`, in the
message and in tracebacks alike: no code path may put the key in a log, and this makes sure.
"""

import json
import logging
import re
from datetime import UTC, datetime

from django.conf import settings

from events.request_ids import current_request_id

REDACTED = "[redacted]"
_BEARER = re.compile(r"(?i)\b(bearer\s+)[\x21-\x7e]+")
_NO_REQUEST = "-"
# Shorter "secrets" (only ever seen in tests) would blank ordinary words.
_MIN_SECRET_LENGTH = 8


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record: the current request's ID, or "-" outside one."""

    def filter(self, record: logging.LogRecord) -> bool:
        _add_request_id(record)
        return True


def _add_request_id(record: logging.LogRecord) -> None:
    if not hasattr(record, "request_id"):
        # Django logs a 4xx/5xx answer ("Service Unavailable: /…") after the middleware
        # chain has returned, with the request attached to the record.
        request = getattr(record, "request", None)
        record.request_id = (
            current_request_id()
            or getattr(request, "request_id", None)
            or _answered_request_id(record)
            or _NO_REQUEST
        )


def _answered_request_id(record: logging.LogRecord) -> str | None:
    """gunicorn's access line: written by its arbiter thread, outside the request, with the
    answer's headers among its atoms (the X-Request-ID the desk answered with)."""
    atoms = record.args if isinstance(record.args, dict) else None
    answered = atoms.get("{x-request-id}o") if atoms else None
    return answered if isinstance(answered, str) and answered not in {"", "-"} else None


class ClientFaultFilter(logging.Filter):
    """Keeps what the desk expects out of its ERROR lines, so that those mean a fault of its
    own: a forged Host header or an oversized form (Django's django.security.* records, with
    a traceback each) and the "busy" or "LeadPing is failing" pages a view marks as expected
    (`request.failure_expected`; Django logs every 5xx answer at ERROR) become one WARNING
    line each. A client's own fault Django answers with a 4xx (a permission denied, a bad
    request) is a WARNING already, with a traceback that says nothing: it goes too. Django's
    line for a failure the view has logged itself (`request.failure_said`) is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(getattr(record, "request", None), "failure_said", False):
            # The view logged why it failed already (/readyz, a line per failing check).
            return record.name != "django.request"
        if record.levelno < logging.ERROR:
            if record.name == "django.request" and record.exc_info:
                record.exc_info, record.exc_text = None, None
            return True
        if record.name.startswith("django.security."):
            record.exc_info, record.exc_text = None, None
            _lower_to_warning(record)
        elif getattr(getattr(record, "request", None), "failure_expected", False):
            _lower_to_warning(record)
        return True


def _lower_to_warning(record: logging.LogRecord) -> None:
    record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)


def redact(text: str) -> str:
    """`text` with configured credentials and Bearer tokens replaced by [redacted]."""
    text = _BEARER.sub(rf"\g<1>{REDACTED}", text)
    for secret in _secrets():
        # In any case: an echo that lower-cases the key still gives it away.
        if secret.lower() in text.lower():
            text = re.sub(re.escape(secret), REDACTED, text, flags=re.IGNORECASE)
    return text


def _secrets() -> list[str]:
    if not settings.configured:
        return []
    candidates = (
        getattr(settings, "LEADPING_API_KEY", None),
        getattr(settings, "METRICS_TOKEN", None),
    )
    return [value for value in candidates if value and len(value) >= _MIN_SECRET_LENGTH]


class RedactingFilter(logging.Filter):
    """Blanks credentials in a record's message before any formatter sees it. gunicorn's
    access lines hold the request line, where a key pasted into a URL would show, and are
    written with gunicorn's own formatter unless DJANGO_LOG_FORMAT=json."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class PlainFormatter(logging.Formatter):
    """One line per record (plus any traceback), credentials redacted."""

    def format(self, record: logging.LogRecord) -> str:
        _add_request_id(record)
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request_id, message, exception."""

    def format(self, record: logging.LogRecord) -> str:
        _add_request_id(record)
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": record.request_id,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)
