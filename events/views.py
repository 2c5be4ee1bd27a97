"""The desk's screens: the lookup, an event's permalink, its live status fragment, its raw JSON."""

import functools
import math
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.csp import CSP
from django.utils.http import content_disposition_header
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling
from redis.exceptions import RedisError

from events import leadping, services, upstream
from events.access import FULL_NUMBERS_PERMISSION, desk_staff_required, visible_text
from events.audit import recent_lookups, record_lookup, visible_rows
from events.compression import unpadded_gzip
from events.detail import EventDetail
from events.event_ids import (
    InvalidEventId,
    describe_invalid_event_id,
    extract_event_id,
    has_invisible_characters,
    is_valid_event_id,
    lower_case_guid,
)
from events.logs import redact
from events.masking import mask_phone_numbers
from events.middleware import SESSION_POLL_SECONDS
from events.models import LookupAudit, Preferences
from events.presentation import (
    TimelineStep,
    build_timeline,
    status_badge,
    status_conflict,
    timeline_kind,
    timeline_outcome,
)

_DISPLAYED_INPUT_LENGTH = 200
# A live event's rendered timeline is reused while LeadPing's answer stays the same; only
# "upcoming" tags depend on the clock, so they are at most this stale.
_LIVE_FRAGMENT_SECONDS = 60
# Longer JSON is offered as a download only: a browser lays out a long unbroken line in a
# <pre> very slowly, and a few hundred kilobytes of it can freeze the tab.
_JSON_PAGE_LIMIT = 50_000

# The desk's own answer for each upstream failure; none of them is ever a 500.
_ERROR_PAGES: dict[type[leadping.LeadPingError], tuple[str, int]] = {
    services.DeskUnavailable: ("desk_unavailable", 503),
    services.DeskBusy: ("desk_busy", 503),
    leadping.EventNotFound: ("not_found", 404),
    leadping.NotAuthorised: ("not_authorised", 502),
    leadping.RateLimited: ("rate_limited", 429),
    leadping.UpstreamUnavailable: ("unavailable", 503),
    leadping.BadPayload: ("bad_payload", 502),
}


@require_safe
@desk_staff_required
def lookup(request: HttpRequest) -> HttpResponse:
    """The home page: one field for an event ID, a link to one, or text containing one."""
    query = request.GET.get("q")
    if query is not None:
        try:
            event_id = extract_event_id(query)
        except InvalidEventId as exc:
            record_lookup(
                request,
                event_id=query.strip(),
                kind=LookupAudit.Kind.SEARCH,
                outcome=LookupAudit.Outcome.INVALID_ID,
            )
            context = _home_context(request, query=redact(query[:_DISPLAYED_INPUT_LENGTH]))
            context["error"] = str(exc)
            return render(request, "events/lookup.html", context, status=400)
        if has_invisible_characters(query):
            # Direction marks may have shown the text reversed: say which ID was looked up.
            messages.info(
                request,
                "What you pasted held invisible characters (zero-width spaces or direction "
                f"marks); they were left out and {event_id} was looked up.",
            )
        return redirect("events:detail", event_id=event_id)
    return render(request, "events/lookup.html", _home_context(request, query=""))


@require_safe
@desk_staff_required
def event_detail(request: HttpRequest, event_id: str) -> HttpResponse:
    """The permalink: everything LeadPing knows about one event."""
    if request.GET.get("check") == "again" and is_valid_event_id(event_id):
        return _check_again(request, event_id)
    snapshot = _audited_lookup(request, event_id, LookupAudit.Kind.PAGE)
    if isinstance(snapshot, HttpResponse):
        return snapshot
    context = _status_context(request, snapshot, event_id)
    response = render(request, "events/event_detail.html", context)
    # Back and forward must not bring the page back from the browser's cache: it would show
    # a status long gone as "Live · checked …" until its first poll (and phone numbers on disk).
    response["Cache-Control"] = "private, no-store"
    return response


def _check_again(request: HttpRequest, event_id: str) -> HttpResponse:
    """?check=again (the final status panel's link): LeadPing is asked anew by the permalink
    it redirects to, without the query, so that a reload does not ask again."""
    try:
        wait = services.check_again(event_id=event_id)
    except RedisError:
        wait = 0.0  # the permalink says what is wrong
    if wait:
        messages.info(
            request,
            f"The desk asked LeadPing about this event less than "
            f"{services.CHECK_AGAIN_SECONDS} seconds ago; you can check again in "
            f"{math.ceil(wait)} s.",
        )
    return redirect("events:detail", event_id=event_id)


@require_safe
@desk_staff_required
@vary_on_headers("HX-Request")
# A fragment is swapped into a page that has its own policy; on its own it may load nothing.
@csp_override({"default-src": [CSP.NONE]})
# Only htmx gets the fragment (HX-Request, which no other site can make a browser send
# without CORS allowing it); a navigation is redirected to the permalink. It is never a
# document, so it needs no frame policy of its own, and carries no secret to pad (BREACH).
@xframe_options_exempt
@unpadded_gzip
def event_status(request: HttpRequest, event_id: str) -> HttpResponse:
    """The live status panel for htmx polls; 286 stops the polling once the event is final."""
    snapshot = _fragment_lookup(request, event_id)
    if isinstance(snapshot, HttpResponse):
        return snapshot
    upstream.count("polls_served")
    if not snapshot.is_final and request.GET.get("v") == snapshot.version:
        # Nothing LeadPing said has changed: htmx swaps nothing on a 204.
        upstream.count("polls_unchanged")
        if snapshot.stale_reason:
            # LeadPing is still failing: the panel's "checked" time must not move on.
            return HttpResponse(status=204)
        # When LeadPing last gave this answer: the desk's copy may be that old (a quiet
        # event is asked less often), so "checked" never claims more than it knows.
        checked = timezone.localtime(snapshot.fetched_at).strftime("%H:%M:%S")
        return HttpResponse(status=204, headers={"X-Desk-Checked": checked})
    context = _status_context(request, snapshot, event_id)
    template = "events/event_detail.html#status-panel"
    if context["polling"]:
        return render(request, template, context)
    return HttpResponseStopPolling(render(request, template, context).content)


@require_safe
@desk_staff_required
@vary_on_headers("HX-Request")
@csp_override({"default-src": [CSP.NONE]})
@xframe_options_exempt
def event_facts(request: HttpRequest, event_id: str) -> HttpResponse:
    """The event's details (what, who, references, payloads) for htmx, when a poll brought a
    new answer: the status panel alone would leave them as they were at the first view. The
    page's head (type, direction, the ID LeadPing answered for) comes too, out of band."""
    snapshot = _fragment_lookup(request, event_id)
    if isinstance(snapshot, HttpResponse):
        return snapshot
    context = _status_context(request, snapshot, event_id) | {"head_out_of_band": True}
    return render(request, "events/event_detail.html#event-facts", context)


def _fragment_lookup(request: HttpRequest, event_id: str) -> services.EventSnapshot | HttpResponse:
    """The event for an htmx fragment; a navigation goes to the permalink, and a failure is
    said in plain text, which desk.js shows (htmx swaps nothing on an error)."""
    if not is_valid_event_id(event_id):
        return _plain_error(describe_invalid_event_id(event_id), 400)
    if not request.htmx:
        return redirect("events:detail", event_id=event_id)
    try:
        return services.lookup_event(event_id=event_id)
    except leadping.LeadPingError as error:
        request.failure_expected = True
        response = _plain_error(visible_text(request.user, error.message), _error_page(error)[1])
        _add_retry_after(response, error)
        return response


@require_safe
@desk_staff_required
def event_raw(request: HttpRequest, event_id: str) -> HttpResponse:
    """The event's JSON as LeadPing sent it (numbers masked without the permission)."""
    snapshot = _audited_lookup(request, event_id, LookupAudit.Kind.DOWNLOAD)
    if isinstance(snapshot, HttpResponse):
        return snapshot
    return HttpResponse(
        _visible_detail(request, snapshot, event_id).raw_json,
        content_type="application/json; charset=utf-8",
        headers={
            "Content-Disposition": content_disposition_header(
                as_attachment=True, filename=f"leadping-event-{event_id}.json"
            ),
            "Cache-Control": "private, no-store",
        },
    )


@require_safe
@desk_staff_required
def desk_status(request: HttpRequest) -> HttpResponse:
    """How hard the desk is working LeadPing: calls by outcome, cache, coalescing, budget."""
    try:
        counters, blocked_for = upstream.read_counters(), round(upstream.blocked_for())
    except RedisError:
        # The page still says how the desk is set up, and that its counters are out of reach.
        counters, blocked_for = None, 0
    context = {
        "counters": counters,
        "blocked_for": blocked_for,
        "cache_backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
        "budget_calls": settings.LEADPING_BUDGET_CALLS,
        "budget_seconds": settings.LEADPING_BUDGET_SECONDS,
        "budget_burst": settings.LEADPING_BUDGET_BURST,
        "budget_reserve": round(upstream.refresh_reserve()),
        "cache_live_seconds": settings.LEADPING_CACHE_LIVE_SECONDS,
        "cache_quiet_seconds": settings.LEADPING_CACHE_QUIET_SECONDS,
        "cache_final_seconds": settings.LEADPING_CACHE_FINAL_SECONDS,
        "api_base_url": settings.LEADPING_API_BASE_URL,
    }
    return render(request, "events/desk_status.html", context)


@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: answers without login and without calling LeadPing."""
    return JsonResponse({"status": "ok"})


def _visible_detail(
    request: HttpRequest, snapshot: services.EventSnapshot, event_id: str
) -> EventDetail:
    """The event as this user may see it: numbers masked without the permission."""
    if request.user.has_perm(FULL_NUMBERS_PERMISSION):
        return snapshot.detail
    detail = snapshot.detail
    masked = _masked if len(detail.raw_json) <= _LARGE_JSON else _masked_large
    return masked(detail, settings.LEADPING_DEFAULT_REGION, event_id)


# Masking runs phonenumbers' matcher over every string of the event; the same event is
# masked once per process, not once per page view and poll (EventDetail is immutable).
# Larger answers (up to megabytes) are remembered apart, only a few: each entry also holds
# the unmasked copy, and a character of emoji takes 4 bytes, so 256 entries of up to 16,000
# characters are at most some tens of MB.
_LARGE_JSON = 16_000


def _mask(detail: EventDetail, region: str, requested_id: str) -> EventDetail:
    return mask_phone_numbers(detail, region=region, requested_id=requested_id)


_masked = functools.lru_cache(maxsize=256)(_mask)
_masked_large = functools.lru_cache(maxsize=4)(_mask)


class _Lifecycle:
    """The timeline, built only if the page renders it (a cached fragment does not)."""

    def __init__(self, detail: EventDetail, now: datetime) -> None:
        self._detail = detail
        self._now = now

    @functools.cached_property
    def steps(self) -> list[TimelineStep]:
        return build_timeline(self._detail, now=self._now)

    @functools.cached_property
    def outcome(self) -> TimelineStep | None:
        return timeline_outcome(self.steps)


def _poll_seconds(request: HttpRequest) -> int:
    """The user's own refresh interval, else the desk's."""
    chosen = request.session.get(SESSION_POLL_SECONDS)
    if isinstance(chosen, int) and Preferences.MIN_POLL_SECONDS <= chosen <= 300:
        return chosen
    return settings.LEADPING_POLL_SECONDS


def _status_context(
    request: HttpRequest, snapshot: services.EventSnapshot, event_id: str
) -> dict[str, Any]:
    """What the status panel (and the page around it) needs."""
    now = timezone.now()
    detail = _visible_detail(request, snapshot, event_id)
    badge = status_badge(detail.status)
    poll_seconds = _poll_seconds(request)
    if snapshot.stale_reason:
        # LeadPing is failing: ask less often until it answers again.
        poll_seconds = min(poll_seconds * 3, 60)
    return {
        "snapshot": snapshot,
        "detail": detail,
        "requested_id": event_id,
        # Why LeadPing failed, in its own words (a problem's detail may hold a number).
        "stale_reason": visible_text(request.user, snapshot.stale_reason),
        "badge": badge,
        # In the context rather than a {% with %}: the details partial is rendered alone too.
        "kind": timeline_kind(detail.timeline_type),
        "status_conflict": status_conflict(detail),
        "lifecycle": _Lifecycle(detail, now),
        "polling": not snapshot.is_final,
        "poll_seconds": poll_seconds,
        "numbers_masked": not request.user.has_perm(FULL_NUMBERS_PERMISSION),
        # The rendered event is cached per LeadPing answer ({% cache %} in the template), in
        # the viewer's time zone; final events' answers are kept longer.
        "time_zone": timezone.get_current_timezone_name(),
        "fragment_seconds": (
            settings.LEADPING_CACHE_FINAL_SECONDS if snapshot.is_final else _LIVE_FRAGMENT_SECONDS
        ),
        "json_page_limit": _JSON_PAGE_LIMIT,
    }


def _home_context(request: HttpRequest, *, query: str) -> dict[str, Any]:
    """The lookup page: recent lookups, and in sandbox mode the sandbox's demo events."""
    context: dict[str, Any] = {
        "query": query,
        "my_recent": list(visible_rows(request.user, recent_lookups(request.user))),
        "team_recent": list(visible_rows(request.user, recent_lookups())),
    }
    if settings.LEADPING_SANDBOX:
        from events.sandbox.catalogue import DEMO_EVENTS

        context["demo_events"] = DEMO_EVENTS
    return context


def _audited_lookup(
    request: HttpRequest, event_id: str, kind: str
) -> services.EventSnapshot | HttpResponse:
    """Look the event up and append the outcome to the audit trail; an error page on failure."""
    if not is_valid_event_id(event_id):
        _record_failure(request, event_id, kind, LookupAudit.Outcome.INVALID_ID)
        return _invalid_event_id(request, event_id)
    try:
        snapshot = services.lookup_event(event_id=event_id)
    except leadping.LeadPingError as error:
        _record_failure(request, event_id, kind, _audit_outcome(error))
        return _upstream_error(request, event_id, error)
    _record_found(request, event_id, kind, snapshot)
    return snapshot


def _record_found(
    request: HttpRequest, event_id: str, kind: str, snapshot: services.EventSnapshot
) -> None:
    detail = snapshot.detail
    record_lookup(
        request,
        event_id=event_id,
        kind=kind,
        outcome=LookupAudit.Outcome.FOUND,
        event_type=detail.timeline_type or detail.event_type,
        status=detail.status,
    )


def _record_failure(request: HttpRequest, event_id: str, kind: str, outcome: str) -> None:
    record_lookup(request, event_id=event_id, kind=kind, outcome=outcome)


def _invalid_event_id(request: HttpRequest, event_id: str) -> HttpResponse:
    context = {
        "kind": "invalid_id",
        "event_id": redact(event_id[:_DISPLAYED_INPUT_LENGTH]),
        "truncated": len(event_id) > _DISPLAYED_INPUT_LENGTH,
        "message": describe_invalid_event_id(event_id),
    }
    return render(request, "events/event_error.html", context, status=400)


def _audit_outcome(error: leadping.LeadPingError) -> str:
    """The audit trail's outcome for an error page: the desk's own outage is "unavailable"."""
    kind = _error_page(error)[0]
    return LookupAudit.Outcome.UNAVAILABLE if kind.startswith("desk_") else kind


def _error_page(error: leadping.LeadPingError) -> tuple[str, int]:
    """The error page kind and HTTP status for an upstream error (subclasses included)."""
    for error_class, page in _ERROR_PAGES.items():
        if isinstance(error, error_class):
            return page
    return ("unavailable", 503)


def _upstream_error(
    request: HttpRequest, event_id: str, error: leadping.LeadPingError
) -> HttpResponse:
    kind, status = _error_page(error)
    # LeadPing failing, or the desk pacing itself, is said on the page: not a fault to log
    # at ERROR (events/logs.py).
    request.failure_expected = True
    context = {
        "kind": kind,
        "event_id": event_id,
        # LeadPing's IDs are opaque (case may matter), so a capitalised GUID is only offered.
        "lower_case_id": lower_case_guid(event_id) if kind == "not_found" else None,
        "message": visible_text(request.user, error.message),
        "retry_after": _retry_after_seconds(error),
        "sandbox": settings.LEADPING_SANDBOX,
        "at": timezone.now(),
    }
    response = render(request, "events/event_error.html", context, status=status)
    _add_retry_after(response, error)
    return response


def _retry_after_seconds(error: leadping.LeadPingError) -> int | None:
    """When to try again, if known: LeadPing's Retry-After or the desk's own pacing."""
    retry_after = getattr(error, "retry_after", None)
    return None if retry_after is None else max(1, round(retry_after))


def _add_retry_after(response: HttpResponse, error: leadping.LeadPingError) -> None:
    seconds = _retry_after_seconds(error)
    if seconds is not None:
        response["Retry-After"] = str(seconds)


def _plain_error(message: str, status: int) -> HttpResponse:
    """A short text answer for htmx, which swaps nothing on errors; desk.js shows the text."""
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
