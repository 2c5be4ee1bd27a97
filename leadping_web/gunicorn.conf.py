"""gunicorn settings for the desk, from environment variables (README, "Running in production").

    .venv/bin/gunicorn -c leadping_web/gunicorn.conf.py leadping_web.wsgi

`make serve` runs exactly that after migrate and collectstatic; `make run` (rundesk) uses this
file too, binding to DESK_HOST:DESK_PORT instead. A malformed variable stops gunicorn at start
with a message naming it, as the Django settings do.
"""

import functools
import logging
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

# gunicorn reads this file before it puts the project on sys.path.
_PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)
if _PROJECT_ROOT not in sys.path:
    sys.path.insert(0, _PROJECT_ROOT)

from leadping_web import env  # noqa: E402

# gunicorn loads this file as "__config__", and prints a traceback for any exception in it:
# a malformed variable says what is wrong in one line instead, and gunicorn exits.
_LOADED_BY_GUNICORN = __name__ == "__config__"


def _one_line_errors[T](read: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(read)
    def reading(*args: Any, **kwargs: Any) -> T:
        try:
            return read(*args, **kwargs)
        except ImproperlyConfigured as problem:
            if not _LOADED_BY_GUNICORN:
                raise
            sys.stderr.write(f"Configuration error: {problem}\n")
            raise SystemExit(1) from None

    return reading


env_choice, env_float, env_int, env_list, env_str = map(
    _one_line_errors, (env.env_choice, env.env_float, env.env_int, env.env_list, env.env_str)
)

# The longest a lookup may spend on LeadPing (settings.LEADPING_REQUEST_DEADLINE, same
# bounds); a worker must outlive it, with room to render the page and write to the database.
REQUEST_DEADLINE = env_float("LEADPING_REQUEST_DEADLINE", 8.0, minimum=1, maximum=60)
TIMEOUT_MARGIN_SECONDS = 5


def default_bind() -> list[str]:
    """GUNICORN_BIND (comma-separated), else all interfaces on $PORT, else 127.0.0.1:8000."""
    configured = env_list("GUNICORN_BIND", [])
    if configured:
        return configured
    if env_str("PORT"):
        return [f"0.0.0.0:{env_int('PORT', 8000, minimum=1, maximum=65535)}"]
    return ["127.0.0.1:8000"]


def worker_timeout(deadline: float) -> int:
    """GUNICORN_TIMEOUT, which must exceed the upstream deadline by TIMEOUT_MARGIN_SECONDS."""
    least = math.floor(deadline) + TIMEOUT_MARGIN_SECONDS + 1
    seconds = env_int("GUNICORN_TIMEOUT", max(30, least), minimum=1, maximum=3600)
    if seconds < least:
        raise ImproperlyConfigured(
            f"GUNICORN_TIMEOUT ({seconds} s) must be at least {least} s: longer than "
            f"LEADPING_REQUEST_DEADLINE ({deadline:g} s) plus {TIMEOUT_MARGIN_SECONDS} s, or "
            "gunicorn kills workers still waiting for LeadPing."
        )
    return seconds


wsgi_app = "leadping_web.wsgi:application"
bind = default_bind()
workers = env_int("WEB_CONCURRENCY", 1, minimum=1, maximum=64)
# Threads, because a lookup mostly waits on LeadPing (up to the deadline) and on Redis.
worker_class = "gthread"
threads = env_int("GUNICORN_THREADS", 16, minimum=1, maximum=256)
timeout = _one_line_errors(worker_timeout)(REQUEST_DEADLINE)
# A restart lets lookups in flight finish.
graceful_timeout = timeout
# Above a load balancer's idle timeout, so that it never reuses a connection gunicorn closed.
keepalive = env_int("GUNICORN_KEEPALIVE", 5, minimum=1, maximum=3600)
max_requests = env_int("GUNICORN_MAX_REQUESTS", 0, minimum=0, maximum=1_000_000)
max_requests_jitter = max_requests // 10

# gunicorn's control socket (for gunicornc) has one path per user by default, so instances
# sharing a host would take each other's: off unless GUNICORN_CONTROL_SOCKET gives a path.
_control_socket = env_str("GUNICORN_CONTROL_SOCKET")
if _control_socket:
    control_socket = _control_socket
else:
    control_socket_disable = True

loglevel = env_choice(
    "GUNICORN_LOG_LEVEL", "info", ("debug", "info", "warning", "error", "critical")
)
errorlog = "-"
_access_log = env_str("GUNICORN_ACCESS_LOG", "-")
accesslog = None if _access_log.lower() in {"off", "none", "false"} else _access_log
# gunicorn's default format, plus the duration and the request ID the desk answered with.
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms '
    "request_id=%({x-request-id}o)s"
)

if env_choice("DJANGO_LOG_FORMAT", "plain", ("plain", "json")) == "json":
    # gunicorn's own lines as JSON too, so that the whole output is JSON lines.
    logconfig_dict = {
        "formatters": {"json": {"()": "events.logs.JsonFormatter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            },
            "error_console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            "gunicorn.error": {"level": loglevel.upper(), "handlers": ["error_console"]},
            "gunicorn.access": {"level": "INFO", "handlers": ["console"]},
        },
    }
    # propagate stays False (gunicorn's default here): the root logger is Django's.
    for _logger in logconfig_dict["loggers"].values():
        _logger["propagate"] = False


def post_worker_init(worker: object) -> None:
    """Credentials blanked in gunicorn's own lines in every log format (see RedactingFilter)."""
    from events.logs import RedactingFilter

    for name in ("gunicorn.access", "gunicorn.error"):
        logging.getLogger(name).addFilter(RedactingFilter())


def when_ready(server: object) -> None:
    """Say so when several workers would not share the call budget, locks and counters."""
    if workers > 1 and not os.environ.get("REDIS_URL", "").strip():
        server.log.warning(  # type: ignore[attr-defined]
            "WEB_CONCURRENCY=%s without REDIS_URL: each worker keeps its own cache, call "
            "budget and single-flight locks. Set REDIS_URL to share them.",
            workers,
        )
