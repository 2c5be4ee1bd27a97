"""Who may use the desk (a logged-in, active user holding `events.lookup_event`), and what
of a phone number each user may see."""

import ipaddress
import math
import unicodedata
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth.views import LoginView, redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django.utils.http import urlencode

from events.masking import mask_text

LOOKUP_PERMISSION = "events.lookup_event"
FULL_NUMBERS_PERMISSION = "events.view_full_phone_numbers"
AUDIT_PERMISSION = "events.view_lookupaudit"

View = Callable[..., HttpResponse]

# django-axes keeps usernames in varchar(255) columns; Django's login form does not limit
# what is typed (its max_length is only the widget's), so a longer one reaches axes.
AXES_USERNAME_LENGTH = 255


def axes_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """The username django-axes records and locks out (AXES_USERNAME_CALLABLE): axes' own
    choice (the credentials, else the posted form), cut to fit its columns."""
    if credentials:
        username = credentials.get("username")
    else:
        username = getattr(request, "data", request.POST).get("username")
    return username[:AXES_USERNAME_LENGTH] if isinstance(username, str) else username


def client_ip(request: HttpRequest) -> str:
    """The address the request came from: the peer's; behind TRUSTED_PROXY_COUNT proxies
    that each add the address they were reached from to X-Forwarded-For, the one the
    outermost proxy saw. Entries to the left of it are the client's to write, so never read.
    Django-axes locks logins out by it (AXES_CLIENT_IP_CALLABLE); the audit trail keeps it."""
    peer = request.META.get("REMOTE_ADDR", "")
    count = settings.TRUSTED_PROXY_COUNT
    if not count:
        return peer
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(hops) < count:
        return peer
    return _address(hops[-count]) or peer


def _address(hop: str) -> str | None:
    """An X-Forwarded-For entry's address, with or without a port ("203.0.113.9:443",
    "[2001:db8::1]:443", as some proxies write them); None if it holds none."""
    candidates = [hop]
    if hop.startswith("[") and "]" in hop:
        candidates = [hop[1 : hop.index("]")]]
    elif hop.count(":") == 1:
        candidates.append(hop.partition(":")[0])
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def folded_username(username: str) -> str:
    """A username as compared whatever its case or width ("ÖLAF"; "root" in full-width
    letters): in Python, as SQLite's LOWER() folds ASCII only."""
    return unicodedata.normalize("NFKC", username).casefold()


def clashing_username(username: str, *, other_than: int | None = None) -> str | None:
    """The username of another user that differs from `username` only in case or width:
    the audit trail names users by username, so "Root" beside "root" would read as root."""
    from django.contrib.auth import get_user_model

    wanted = folded_username(username)
    others = get_user_model().objects.exclude(pk=other_than).values_list("username", flat=True)
    return next((other for other in others if folded_username(other) == wanted), None)


def visible_text(user: Any, text: str | None) -> str | None:
    """Text from LeadPing or typed by staff (an error's detail, a status or ID kept in the
    audit trail) as `user` may see it: phone numbers masked without the permission."""
    if not text or user.has_perm(FULL_NUMBERS_PERMISSION):
        return text
    return mask_text(text, region=settings.LEADPING_DEFAULT_REGION)


def desk_staff_required(view: View) -> View:
    """Like login_required + permission_required, but safe for htmx polls.

    A poll whose session has expired must not follow the redirect and swap the login page
    into the status badge: it gets a 403 whose HX-Redirect sends the whole tab to login and
    back to the page it was on. One whose user lost the permission reloads the tab.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not request.user.is_authenticated:
            if request.htmx:
                return _htmx_login_redirect(request)
            return redirect_to_login(request.get_full_path())
        if not request.user.has_perm(LOOKUP_PERMISSION):
            if request.htmx:
                # Taken away while the page was open: reload it, to show the 403 page.
                return HttpResponse(
                    "Your account may no longer look up events.",
                    status=403,
                    content_type="text/plain; charset=utf-8",
                    headers={"HX-Refresh": "true"},
                )
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _htmx_login_redirect(request: HttpRequest) -> HttpResponse:
    """A 403 telling htmx to load the login page, returning to the page the poll came from."""
    # current_url_abs_path is None unless HX-Current-URL is on this same origin.
    back_to = request.htmx.current_url_abs_path or "/"
    login_url = f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': back_to})}"
    return HttpResponse(
        "Your session has expired. Log in again to keep watching this event.",
        status=403,
        content_type="text/plain; charset=utf-8",
        headers={"HX-Redirect": login_url},
    )


class DeskLoginView(LoginView):
    """Django's login page, which sends a logged-in user straight on to ?next=, except to
    the login page itself (a crafted link): Django would call that a redirect loop and fail
    with a 500. Such a user goes to the desk's home instead."""

    redirect_authenticated_user = True

    def get_redirect_url(self) -> str:
        url = super().get_redirect_url()
        if url and urlsplit(url).path == self.request.path:
            return ""
        return url


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """django-axes' lockout page, with a Retry-After: the cool-off the page speaks of."""
    cool_off = get_cool_off(request)
    response = render(
        request,
        settings.AXES_LOCKOUT_TEMPLATE,
        {"cooloff_timedelta": cool_off},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    if cool_off:
        response["Retry-After"] = str(math.ceil(cool_off.total_seconds()))
    return response
