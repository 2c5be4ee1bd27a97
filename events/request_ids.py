"""One ID per request: on the response, in every log line, and on the call to LeadPing.

The ID lives in a context variable for the length of the request, so code far from the view
(the LeadPing client, log formatting) reads it without being handed the request. A proxy's
`X-Request-ID` is taken only when TRUST_REQUEST_ID_HEADER is on and the value is short and
plain; anything else gets a fresh ID, so a client cannot write what it likes into the logs.
"""

import re
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db.utils import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import TemplateDoesNotExist, loader
from django.views.decorators.csrf import requires_csrf_token

HEADER = "X-Request-ID"
_META_KEY = "HTTP_X_REQUEST_ID"
_VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def new_request_id() -> str:
    """20 hex digits (80 random bits): unique enough to find one request in the logs, and
    short, as it goes out on every answer, polls included."""
    return secrets.token_hex(10)


def is_valid_request_id(value: str | None) -> bool:
    """At most 64 characters of A-Z a-z 0-9 . _ - (safe in headers, logs and HTML)."""
    return value is not None and _VALID_ID.fullmatch(value) is not None


def current_request_id() -> str | None:
    """The ID of the request (or command) this code runs for, if any."""
    return _current.get()


def upstream_headers() -> dict[str, str]:
    """Headers that carry the current request's ID to LeadPing."""
    request_id = _current.get()
    return {HEADER: request_id} if request_id else {}


@contextmanager
def bound_request_id(request_id: str) -> Iterator[str]:
    """Make `request_id` the current one inside the block (requests, commands, workers)."""
    token = _current.set(request_id)
    try:
        yield request_id
    finally:
        _current.reset(token)


def _request_id_for(request: HttpRequest) -> str:
    offered = request.META.get(_META_KEY)
    if settings.TRUST_REQUEST_ID_HEADER and is_valid_request_id(offered):
        return offered
    return new_request_id()


class RequestIdMiddleware:
    """Give each request an ID (`request.request_id`) and answer it in `X-Request-ID`.

    First in MIDDLEWARE, so that every later middleware's log lines carry the ID too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = _request_id_for(request)
        request.request_id = request_id
        with bound_request_id(request_id):
            response = self.get_response(request)
        response[HEADER] = request_id
        return response


def request_id(request: HttpRequest) -> dict[str, str | None]:
    """Template context: `request_id`, for error pages that ask staff to quote it."""
    return {"request_id": getattr(request, "request_id", None)}


@requires_csrf_token
def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    """Django's 500 handler, plus `request_id` in the (otherwise empty) template context."""
    try:
        template = loader.get_template(template_name)
    except TemplateDoesNotExist:
        return HttpResponseServerError(
            b"<h1>Server Error (500)</h1>", content_type="text/html; charset=utf-8"
        )
    # Called while Django handles the exception: a database that refuses connections (too
    # many clients, restarting, locked) is an outage to wait out, not a fault of the desk.
    unavailable = isinstance(sys.exception(), OperationalError | InterfaceError)
    if request.headers.get("HX-Request") == "true":
        # A live panel's poll: htmx swaps nothing on an error and desk.js shows the body as
        # the panel's note, so it gets a sentence, not the markup of a whole page.
        message = (
            "The desk cannot reach its database right now."
            if unavailable
            else "Something went wrong on the desk."
        )
        response = HttpResponseServerError(message, content_type="text/plain; charset=utf-8")
    else:
        response = HttpResponseServerError(
            template.render(
                {
                    "request_id": getattr(request, "request_id", None),
                    "database_unavailable": unavailable,
                }
            )
        )
    if unavailable:
        response.status_code = 503
        response["Retry-After"] = "10"
    return response
