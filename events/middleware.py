"""Per-user preferences applied to every request (read from the session, no query), what
browsers may keep of a logged-in user's pages, and a guard on admin query strings."""

import functools
import zoneinfo
from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.core.exceptions import BadRequest
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control

SESSION_TIME_ZONE = "desk_time_zone"
SESSION_POLL_SECONDS = "desk_poll_seconds"


class HeadWithoutBodyMiddleware:
    """A HEAD answer carries the headers a GET's would (its Content-Length too) and no body.
    gunicorn drops the body itself, but logs a warning for each one: a load balancer's HEAD
    probes filled the log."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.method == "HEAD":
            if response.streaming:
                # What it streamed is still closed with the response.
                response.streaming_content = ()
            else:
                response.content = b""
        return response


class PreferencesMiddleware:
    """Shows times in the user's own zone when they chose one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = request.session.get(SESSION_TIME_ZONE) if hasattr(request, "session") else None
        if name:
            try:
                timezone.activate(zoneinfo.ZoneInfo(name))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        return self.get_response(request)


class PrivatePagesMiddleware:
    """`Cache-Control: no-store` on what a logged-in user is answered, unless the view said
    otherwise: pages, fragments and polls carry what LeadPing said (phone numbers, statuses)
    and what staff typed, none of which a browser's disk cache or a proxy may keep."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not response.has_header("Cache-Control") and request.user.is_authenticated:
            patch_cache_control(response, no_store=True)
        return response


@functools.cache
def _admin_prefix() -> str:
    return reverse("admin:index")


class AdminQueryGuardMiddleware:
    """A 400 for an admin URL whose query string Django's admin would turn into a 500.

    - A NUL character: the admin puts its filter and search values straight into queries,
      and PostgreSQL refuses NUL in text (`?outcome__exact=%00`). The desk's own pages take
      NUL and keep it as U+FFFD (the audit trail records what was typed).
    - A date drill-down out of range (`?at__year=9999`, `?at__year=99999999999`): Django's
      ChangeList catches only the ValueError of a bad date, not the OverflowError of a huge
      number, nor the year after 9999 it computes as the end of the range. Other lookups on
      a date's parts (`?at__year__gte=0`, `?at__iso_year=10000`, `?at__week=…`) fail the
      same way when the query runs; the admin never makes them, so they are refused.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        if not query or not request.path.startswith(_admin_prefix()):
            return self.get_response(request)
        if ("%00" in query or "\x00" in query) and self._has_nul(request):
            raise BadRequest("NUL character in an admin query string")
        # Keys as Django decodes them: "at%5F%5Fyear" is "at__year" too.
        for key, values in request.GET.lists():
            self._check_date_parts(key, values)
        return self.get_response(request)

    @staticmethod
    def _check_date_parts(key: str, values: list[str]) -> None:
        parts = key.split("__")
        if not _DATE_TRANSFORMS.intersection(parts[1:]):
            return
        # Only the drill-down's own form: `<field>__year`, `__month` or `__day`, a number.
        bounds = _DATE_PARTS.get(parts[-1])
        if bounds is None or _DATE_TRANSFORMS.intersection(parts[1:-1]):
            raise BadRequest("Unsupported date lookup in an admin query string")
        if not all(_within(value, bounds) for value in values):
            raise BadRequest("Date out of range in an admin query string")

    @staticmethod
    def _has_nul(request: HttpRequest) -> bool:
        return any(
            "\x00" in key or "\x00" in "".join(values) for key, values in request.GET.lists()
        )


# The date parts of a date_hierarchy drill-down (django-axes' login records have one; a
# hand-written `?at__year=` works on any list), and the values it can compute
# a range from (the year after the last must exist too).
_DATE_PARTS = {"year": (1, 9998), "month": (1, 12), "day": (1, 31)}
# Django's transforms of a date or time into a number.
_DATE_TRANSFORMS = frozenset(
    {
        "year",
        "iso_year",
        "quarter",
        "month",
        "week",
        "week_day",
        "iso_week_day",
        "day",
        "hour",
        "minute",
        "second",
    }
)


def _within(value: str, bounds: tuple[int, int]) -> bool:
    return value.isascii() and value.isdigit() and bounds[0] <= int(value) <= bounds[1]


def remember_preferences(request: HttpRequest, preferences: object | None) -> None:
    """Copy a user's preferences into their session, where the middleware reads them."""
    time_zone = getattr(preferences, "time_zone", "") or ""
    poll_seconds = getattr(preferences, "poll_seconds", None)
    request.session[SESSION_TIME_ZONE] = time_zone
    request.session[SESSION_POLL_SECONDS] = poll_seconds


@receiver(user_logged_in)
def _load_preferences_at_login(sender: object, request: HttpRequest, user: object, **_: object):
    from events.models import Preferences

    if request is not None and hasattr(request, "session"):
        remember_preferences(request, Preferences.objects.filter(user=user).first())


@receiver(user_logged_out)
def _say_logged_out(sender: object, request: HttpRequest | None, **_: object) -> None:
    """The login page the logout leads to says it worked (messages survive it in a cookie)."""
    if request is not None and hasattr(request, "_messages"):
        messages.info(request, "You have been logged out.")
