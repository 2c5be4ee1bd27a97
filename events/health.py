"""`/readyz`: whether this instance can serve the desk now (database, cache, LeadPing reachable).

Liveness (`/healthz`, in events.views) only says the process answers. Readiness checks what
a lookup needs, each quickly, and answers 503 naming the failing part. The LeadPing check
is a TCP connection to the API's host and port: it sends no request, so it neither spends
the call budget nor sends the API key anywhere. Reasons are short and fixed (an exception's
class name at most); the details go to the log, never to the unauthenticated caller.
"""

import logging
import secrets
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

UPSTREAM_TIMEOUT_SECONDS = 1.0
_DEFAULT_PORTS = {"http": 80, "https": 443}
OK = "ok"


@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when database, cache and LeadPing all answer, else 503 naming the failures."""
    checks = {
        "database": _check_database(),
        "cache": _check_cache(),
        "upstream": _check_upstream(),
    }
    failing = [name for name, result in checks.items() if result != OK]
    # Each failing check has logged its WARNING: the 503 itself is the answer asked for, and
    # Django's own line for it would say it again at every probe (events/logs.py drops it).
    request.failure_said = bool(failing)
    body = {"status": "unavailable" if failing else OK, "checks": checks, "failing": failing}
    return JsonResponse(body, status=503 if failing else 200, headers={"Cache-Control": "no-store"})


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            row = cursor.fetchone()
    except Exception as error:
        logger.warning("readyz: database check failed: %s", error)
        return f"error ({type(error).__name__})"
    return OK if row is not None and row[0] == 1 else "error (unexpected answer)"


def _check_cache() -> str:
    probe = f"readyz:{secrets.token_hex(8)}"
    value = secrets.token_hex(8)
    try:
        cache.set(probe, value, timeout=5)
        answer = cache.get(probe)
        cache.delete(probe)
    except Exception as error:
        logger.warning("readyz: cache check failed: %s", error)
        return f"error ({type(error).__name__})"
    return OK if answer == value else "error (value not read back)"


def _check_upstream() -> str:
    """Open (and close) a TCP connection to LeadPing's API host; send nothing."""
    parts = urlsplit(settings.LEADPING_API_BASE_URL)
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 443)
    try:
        with socket.create_connection((parts.hostname, port), timeout=UPSTREAM_TIMEOUT_SECONDS):
            pass
    except TimeoutError:
        logger.warning("readyz: LeadPing API host did not accept a connection in time")
        return "unreachable (timeout)"
    except OSError as error:
        logger.warning("readyz: LeadPing API host unreachable: %s", error)
        return f"unreachable ({type(error).__name__})"
    return OK
