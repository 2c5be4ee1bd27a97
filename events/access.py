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


# Letters that read as Latin ones (the common entries of Unicode's confusables), capitals
# apart (Cyrillic "\u0422\u041e\u041c" reads "TOM", though folded it is "\u0442\u043e\u043c"): a
# username is mapped letter by letter, then folded. Written as escapes, as a reader of this
# file could not tell them apart either.
_LOOK_ALIKES = str.maketrans(
    {
        # Cyrillic
        "\u0410": "A", "\u0412": "B", "\u0415": "E", "\u041a": "K", "\u041c": "M",
        "\u041d": "H", "\u041e": "O", "\u0420": "P", "\u0421": "C", "\u0422": "T",
        "\u0425": "X", "\u0423": "Y", "\u0405": "S", "\u0406": "I", "\u0408": "J",
        "\u051a": "Q", "\u051c": "W", "\u04ae": "Y",
        # Greek
        "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0396": "Z", "\u0397": "H",
        "\u0399": "I", "\u039a": "K", "\u039c": "M", "\u039d": "N", "\u039f": "O",
        "\u03a1": "P", "\u03a4": "T", "\u03a5": "Y", "\u03a7": "X",
        # Cyrillic
        "\u0430": "a", "\u044c": "b", "\u0441": "c", "\u0501": "d", "\u0435": "e",
        "\u04bb": "h", "\u0456": "i", "\u0458": "j", "\u043a": "k", "\u04cf": "l",
        "\u043f": "n", "\u043e": "o", "\u0440": "p", "\u051b": "q", "\u0433": "r",
        "\u0455": "s", "\u051d": "w", "\u0445": "x", "\u0443": "y", "\u04af": "y",
        # Greek
        "\u03b1": "a", "\u03b5": "e", "\u03b9": "i", "\u03ba": "k", "\u03bd": "v",
        "\u03bf": "o", "\u03c1": "p", "\u03c4": "t", "\u03c5": "u", "\u03c7": "x",
        "\u03b3": "y",
        # Armenian
        "\u0570": "h", "\u0578": "n", "\u0585": "o", "\u057d": "u", "\u0581": "g",
        # Latin
        "\u0131": "i", "\u0251": "a", "\u0261": "g", "\u029f": "l",
    }
)  # fmt: skip
# Scripts whose letters pass for Latin ones; any of them beside Latin letters, or beside each
# other, is a name that could pass for another.
_LOOK_ALIKE_SCRIPTS = frozenset({"CYRILLIC", "GREEK", "ARMENIAN"})


def username_skeleton(username: str) -> str:
    """What a username reads as: look-alike letters as Latin ones, without case or width."""
    return folded_username(unicodedata.normalize("NFKC", username).translate(_LOOK_ALIKES))


def mixed_scripts(username: str) -> set[str]:
    """The scripts of a username's letters when they could make it pass for another: Latin
    with any other script ("r\u043e\u043et", "root" with two Cyrillic o's; Lisu's "\ua4d3"
    beside Latin letters), or two of the scripts that pass for Latin; else an empty set."""
    scripts = {
        unicodedata.name(char, "?").partition(" ")[0]
        for char in unicodedata.normalize("NFKC", username)
        if char.isalpha()
    }
    if len(scripts) > 1 and ("LATIN" in scripts or len(scripts & _LOOK_ALIKE_SCRIPTS) > 1):
        return scripts
    return set()


def clashing_username(username: str, *, other_than: int | None = None) -> str | None:
    """The username of another user that reads as `username`, differing only in case, width
    or look-alike letters: the audit trail names users by username, so "Root", or "root"
    written with a Cyrillic o, beside "root" would read as root."""
    from django.contrib.auth import get_user_model

    wanted = username_skeleton(username)
    others = get_user_model().objects.exclude(pk=other_than).values_list("username", flat=True)
    return next((other for other in others if username_skeleton(other) == wanted), None)


def username_problem(username: str, *, other_than: int | None = None) -> str | None:
    """Why `username` must not be given to the user `other_than` (None: a new one), or None.
    The audit trail names users by username: no name may pass for another's, nor take over
    the rows of an account renamed or deleted."""
    from events.models import LookupAudit

    if scripts := mixed_scripts(username):
        alphabets = " and ".join(sorted(script.title() for script in scripts))
        return (
            f"This username mixes letters of the {alphabets} alphabets, so it could pass "
            "for another. Use one alphabet."
        )
    if (clash := clashing_username(username, other_than=other_than)) is not None:
        return (
            f"{clash!r} is taken, and this username would read as it in the audit trail: "
            "they differ only in case, width or look-alike letters."
        )
    rows = LookupAudit.objects.all()
    if other_than is not None:
        rows = rows.exclude(user_id=other_than)
    wanted = username_skeleton(username)
    names = rows.order_by().values_list("username", flat=True).distinct().iterator()
    if any(username_skeleton(name) == wanted for name in names):
        return (
            "The audit trail names another account, past or present, with this username: "
            "its lookups would read as this user's. Pick another."
        )
    return None


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
