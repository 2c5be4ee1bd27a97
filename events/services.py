"""The desk's one door to LeadPing: views call these, never the HTTP client directly.

`lookup_event` costs LeadPing about one call per refresh interval per event, however many
people watch it: answers are cached (final events long, live ones for about the refresh
interval), concurrent misses for one event share one call (single-flight), every call
spends a token of a budget shared by all processes, a 429's Retry-After stops every process,
and when LeadPing fails the last good copy is served with its age and the reason.
"""

import dataclasses
import functools
import hashlib
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from redis.exceptions import RedisError

from events import after_response, leadping, metrics, request_ids, upstream
from events.detail import EventDetail
from events.event_ids import InvalidEventId, validate_event_id
from events.presentation import is_final_status

logger = logging.getLogger(__name__)

_WAIT_STEP_SECONDS = 0.02


class BudgetExhausted(leadping.RateLimited):
    """The desk's own budget of LeadPing calls is spent for now; no call was made."""

    message = "The desk is pacing its calls to LeadPing to stay inside the business's rate limit."


class DeskBusy(leadping.UpstreamUnavailable):
    """Every request this process may have waiting on LeadPing already is; no call was made."""

    message = (
        "LeadPing is slow to answer, and the desk already has as many lookups waiting on it "
        "as it allows. Try again in a few seconds."
    )
    # Said when this very event is being asked about by another request meanwhile.
    ALREADY_ASKING = (
        "LeadPing is slow to answer, and the desk is already asking it about this event. "
        "Try again in a few seconds."
    )

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after: float = BUSY_RETRY_SECONDS


# How long a request may wait for a waiting slot to come free: against a LeadPing answering
# in tens of milliseconds, slots turn over many times in this; against a slow one, the
# request gets the last copy or "busy" soon, and its thread is free again.
SLOT_WAIT_SECONDS = 0.5
# "Busy" answers carry a Retry-After of this many seconds.
BUSY_RETRY_SECONDS = 3
# Requests that may wait for a slot at once; the others are told "busy" at once.
MAX_SLOT_QUEUE = 2

# Staff may have LeadPing asked anew (check_again) once the desk's copy is this old.
CHECK_AGAIN_SECONDS = 30


class _WaitingSlots:
    """Counts the requests of this process waiting on LeadPing (LEADPING_MAX_WAITING at most),
    and those waiting for one of them to come free (MAX_SLOT_QUEUE at most)."""

    def __init__(self) -> None:
        self._free = threading.Condition()
        self._used = 0
        self._queued = 0

    def take(self, *, within: float) -> bool:
        """Take a slot, waiting at most `within` seconds for one; False if none came free, or
        if enough requests wait for one already: a waiting request holds a thread too, and
        with every slot held the threads left must stay free for health checks and cached
        pages (with all of them waiting half a second each, /healthz took over a second)."""
        with self._free:
            if self._has_room():
                self._used += 1
                return True
            if within <= 0 or self._queued >= MAX_SLOT_QUEUE:
                return False
            self._queued += 1
            try:
                if not self._free.wait_for(self._has_room, timeout=within):
                    return False
            finally:
                self._queued -= 1
            self._used += 1
            return True

    def _has_room(self) -> bool:
        return self._used < settings.LEADPING_MAX_WAITING

    def give_back(self) -> None:
        with self._free:
            self._used -= 1
            self._free.notify()


_waiting = _WaitingSlots()


class UpstreamPaused(leadping.UpstreamUnavailable):
    """LeadPing failed many calls in a row, whatever the event: the desk pauses every call
    for a while (longer each time it happens again) rather than call it at the budget's
    pace; no call was made."""

    message = (
        "LeadPing has been failing call after call, so the desk has paused its calls to it "
        "for a few seconds."
    )

    def __init__(self, message: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# LeadPing failed this many calls in a row (after their retries), for any events: pause.
FAILURES_BEFORE_PAUSE = 10


class DeskUnavailable(leadping.LeadPingError):
    """The desk's shared cache (Redis) failed: without it no call can be paced or shared."""

    message = "The desk cannot reach its shared cache (Redis), which paces its calls to LeadPing."
    # Said as a Retry-After: an outage of Redis is seldom over in less.
    retry_after = 10


@dataclass(frozen=True)
class EventSnapshot:
    """An event detail, when the desk got it from LeadPing, and why it is stale if it is."""

    detail: EventDetail
    fetched_at: datetime
    from_cache: bool = False
    stale_reason: str | None = None

    @property
    def age_seconds(self) -> float:
        return max(0.0, (timezone.now() - self.fetched_at).total_seconds())

    @property
    def is_final(self) -> bool:
        """LeadPing will not change this answer: a final status, for the event asked about."""
        return _is_final(self.detail)

    @property
    def data_version(self) -> str:
        """Changes whenever LeadPing's answer changes (the event's details are keyed on it).

        Keyed with the secret key: the version is in every viewer's page, and an unkeyed
        hash of the unmasked JSON would let staff without the full-numbers permission find
        the masked digits by trying every candidate number offline.
        """
        return hashlib.blake2b(
            self.detail.raw_json.encode(), digest_size=8, key=_version_key(settings.SECRET_KEY)
        ).hexdigest()

    @property
    def version(self) -> str:
        """Changes whenever what the status panel shows changes: the answer, and why it is
        stale ("<data_version>-<4 hex digits of the reason>"), since a 500 turning into a
        429 or a timeout must be said. desk.js refreshes the details only when the part
        before the "-" changes."""
        if not self.stale_reason:
            return self.data_version
        reason = hashlib.blake2b(
            self.stale_reason.encode(), digest_size=2, key=_version_key(settings.SECRET_KEY)
        )
        return f"{self.data_version}-{reason.hexdigest()}"


@functools.lru_cache(maxsize=4)
def _version_key(secret_key: str) -> bytes:
    """The key of EventSnapshot.version's hash, derived from the secret key (64 bytes at most)."""
    return hashlib.blake2b(secret_key.encode(), digest_size=32, person=b"desk-snap-ver").digest()


@dataclass(frozen=True)
class _Entry:
    """What the cache holds for one event: the last good answer and until when it is fresh."""

    detail: EventDetail
    fetched_at: datetime
    fresh_until: float
    # Since when LeadPing has given this same answer (None in copies cached before this
    # field existed: then since fetched_at).
    unchanged_since: datetime | None = None
    # Set on the last good copy held after LeadPing failed (see _hold_stale): why it is stale.
    stale_reason: str | None = None

    @property
    def is_fresh(self) -> bool:
        return time.time() < self.fresh_until

    def snapshot(self, *, stale_reason: str | None = None) -> EventSnapshot:
        return EventSnapshot(
            detail=self.detail,
            fetched_at=self.fetched_at,
            from_cache=True,
            stale_reason=stale_reason or self.stale_reason,
        )


def lookup_event(*, event_id: str) -> EventSnapshot:
    """The detail of one event, as fresh as the budget allows.

    Raises InvalidEventId, or a leadping.LeadPingError when there is nothing to show.
    """
    try:
        snapshot = _lookup(event_id)
    except InvalidEventId:
        metrics.count_lookup("invalid_id")
        raise
    except leadping.LeadPingError as error:
        metrics.count_lookup(_lookup_outcome(error))
        raise
    except RedisError as error:
        # Calling LeadPing unpaced could spend the business's rate limit: refuse instead.
        logger.error("the shared cache failed during a lookup of %s: %r", event_id, error)
        metrics.count_lookup("unavailable")
        raise DeskUnavailable() from None
    metrics.count_lookup("stale" if snapshot.stale_reason else "found")
    return snapshot


def check_again(*, event_id: str) -> float:
    """Have the next lookup of the event ask LeadPing anew, rather than serve the desk's copy
    (a final event's is kept for LEADPING_CACHE_FINAL_SECONDS). The copy stays, to be served
    should LeadPing fail. Returns 0, or the seconds left until the copy is CHECK_AGAIN_SECONDS
    old: many staff pressing "Check again" at once cost LeadPing one call, not one each."""
    validate_event_id(event_id)
    entry = _cached(event_id)
    if entry is None:
        return 0.0
    age = _age_seconds(entry)
    if age < CHECK_AGAIN_SECONDS:
        return CHECK_AGAIN_SECONDS - age
    # Once per CHECK_AGAIN_SECONDS whatever LeadPing answered: while it fails, the copy
    # stays as old as it was, and each press would cost a call (and its retries).
    asked, version = upstream.key("check-again", event_id), upstream.CACHE_VERSION
    if not cache.add(asked, time.time(), timeout=CHECK_AGAIN_SECONDS, version=version):
        since = cache.get(asked, version=version)
        since = since if isinstance(since, float) else time.time()
        return max(1.0, CHECK_AGAIN_SECONDS - (time.time() - since))
    kept_for = settings.LEADPING_STALE_SECONDS - age
    if kept_for <= 0:
        upstream.forget_answer(event_id)
        return 0.0
    expired = dataclasses.replace(entry, fresh_until=0.0, stale_reason=None)
    upstream.mark_not_fresh(event_id, expired, keep_for=kept_for)
    return 0.0


def _lookup_outcome(error: leadping.LeadPingError) -> str:
    """The /metrics outcome label of a failed lookup (BudgetExhausted is a RateLimited)."""
    for error_class, outcome in _LOOKUP_OUTCOMES.items():
        if isinstance(error, error_class):
            return outcome
    return "unavailable"


class _Refusals:
    """Events whose lookup LeadPing refused the key for (401, or 403 for that event), kept
    per process for one refresh interval: every viewer's poll would otherwise call LeadPing
    again only to hear the same refusal. A refusal is never hidden behind a stale copy."""

    _MAX_EVENTS = 1000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[str, tuple[float, leadping.NotAuthorised]] = {}

    def remember(self, event_id: str, error: leadping.NotAuthorised) -> None:
        with self._lock:
            if len(self._until) >= self._MAX_EVENTS:
                self._until.clear()
            self._until[event_id] = (
                time.monotonic() + settings.LEADPING_CACHE_LIVE_SECONDS,
                error,
            )

    def recent(self, event_id: str) -> leadping.NotAuthorised | None:
        found = self._until.get(event_id)
        if found is None:
            return None
        until, error = found
        if time.monotonic() >= until:
            with self._lock:
                self._until.pop(event_id, None)
            return None
        return leadping.NotAuthorised(error.message, status_code=error.status_code)

    def forget(self) -> None:
        with self._lock:
            self._until.clear()


_refusals = _Refusals()


def _lookup(event_id: str) -> EventSnapshot:
    validate_event_id(event_id)
    refusal = _refusals.recent(event_id)
    if refusal is not None:
        raise refusal
    deadline = time.monotonic() + settings.LEADPING_REQUEST_DEADLINE
    # A slow LeadPing must not hold every thread: past LEADPING_MAX_WAITING requests
    # waiting on it (calling it or waiting for that call), the others get the last copy or
    # "busy" soon. The slot is taken before the look, so that a request refused for want
    # of one neither takes the event's lock nor spends a token of the call budget.
    has_slot = _waiting.take(within=0)
    if not has_slot:
        # An answer the cache holds needs no slot, nor does a copy to show meanwhile ("busy",
        # said once it is a few intervals old). Else wait a little for one: against a
        # LeadPing answering in tens of milliseconds, slots come free many times meanwhile.
        look = _look(event_id, take_lock=False)
        if look.fresh or look.missing or _as_entry(look.stored) is not None:
            return _lookup_with(event_id, deadline=deadline, has_slot=False, look=look)
        has_slot = _waiting.take(within=min(SLOT_WAIT_SECONDS, deadline - time.monotonic()))
    try:
        return _lookup_with(event_id, deadline=deadline, has_slot=has_slot)
    finally:
        if has_slot:
            _waiting.give_back()


def _lookup_with(
    event_id: str, *, deadline: float, has_slot: bool, look: upstream.Look | None = None
) -> EventSnapshot:
    # The answer, the "no such event" mark and, on a miss (with a slot), the lock and the
    # call's budget token: one round trip on Redis (unless the caller has looked already).
    look = look or _look(event_id, take_lock=has_slot)
    if look.fresh and _as_entry(look.stored) is None:
        # Fresh by its mark on Redis, but not an answer this release can read: fetch anew.
        upstream.forget_answer(event_id)
        look = _look(event_id, take_lock=has_slot)
    if look.fresh or look.missing:
        upstream.count("cache_hits")
        entry = _as_entry(look.stored)
        if look.missing:
            raise leadping.EventNotFound()
        if entry is not None:
            if entry.stale_reason:
                upstream.count("stale_served")
            return entry.snapshot()
    elif (failure := _rebuild(look.failure)) is not None:
        # LeadPing failed this event's last call, within a refresh interval: not asked again
        # by every viewer (an event the desk has no copy of is not held, as one with a copy is).
        upstream.count("cache_hits")
        return _stale_or_raise(_as_entry(look.stored), failure)
    else:
        upstream.count("cache_misses")
    if not has_slot:
        upstream.count("busy_refusals")
        stale = _as_entry(look.stored)
        if stale is None and upstream.lock_held(event_id):
            return _stale_or_raise(stale, DeskBusy(DeskBusy.ALREADY_ASKING))
        return _stale_or_raise(stale, DeskBusy())
    return _fetch_or_wait(event_id, look, deadline=deadline)


def _fetch_or_wait(event_id: str, look: upstream.Look, *, deadline: float) -> EventSnapshot:
    """Call LeadPing if this request holds the event's lock, else wait for the one that does
    (unless there is a copy to show meanwhile)."""
    while True:
        entry = _as_entry(look.stored)
        if look.fresh and entry is not None:
            return entry.snapshot()
        if look.missing:
            raise leadping.EventNotFound()
        if look.token is not None:
            try:
                return _fetch(event_id, stale=entry, deadline=deadline, spent=look.spent)
            finally:
                # After the answer is stored (deferred work runs in order); if the process
                # dies first, the lock's own timeout frees it.
                after_response.defer(partial(upstream.release_lock, event_id, look.token))
        upstream.count("coalesced_waits")
        if entry is not None:
            # Another caller is refreshing the event: show the copy now, with its time,
            # rather than hold a thread and a waiting slot until LeadPing answers (a slow
            # LeadPing kept every viewer's poll waiting, ran the slots out, and left health
            # checks no free thread). An old copy says why it is not newer.
            return _stale_or_raise(entry, _BeingRefreshed())
        outcome = _wait_for_other_caller(event_id, stale=entry, deadline=deadline)
        if outcome is not None:
            return outcome
        # The other caller gave up without an answer: look again, and take the lock if free.
        look = _look(event_id)


def _look(event_id: str, *, take_lock: bool = True) -> upstream.Look:
    # The lock outlives the request's deadline by a second, in case the holder dies.
    return upstream.look(
        event_id,
        ttl=settings.LEADPING_REQUEST_DEADLINE + 1,
        is_fresh=_is_fresh,
        take_lock=take_lock,
    )


def _is_fresh(value: object) -> bool:
    entry = _as_entry(value)
    return entry is not None and entry.is_fresh


def _cached(event_id: str) -> _Entry | None:
    return _as_entry(cache.get(upstream.key("event", event_id), version=upstream.CACHE_VERSION))


def _as_entry(value: object) -> _Entry | None:
    return value if isinstance(value, _Entry) else None


def _store(event_id: str, detail: EventDetail, *, previous: _Entry | None) -> EventSnapshot:
    now = timezone.now()
    unchanged_since = now
    if previous is not None and previous.detail.raw_json == detail.raw_json:
        unchanged_since = previous.unchanged_since or previous.fetched_at
    fresh_for = _fresh_seconds(detail, unchanged_for=(now - unchanged_since).total_seconds())
    entry = _Entry(
        detail=detail,
        fetched_at=now,
        fresh_until=time.time() + fresh_for,
        unchanged_since=unchanged_since,
    )
    # Stored once this viewer's page has gone out (at once outside a request): callers
    # waiting for this lookup go on waiting until then, as the lock is released after it.
    # Kept past its freshness so that it can still be served, marked stale, if LeadPing fails.
    after_response.defer(
        partial(
            upstream.store_answer,
            event_id,
            entry,
            fresh_for=fresh_for,
            keep_for=max(fresh_for, settings.LEADPING_STALE_SECONDS),
        )
    )
    return EventSnapshot(detail=detail, fetched_at=entry.fetched_at)


def _fetch(
    event_id: str, *, stale: _Entry | None, deadline: float, spent: tuple[str, float]
) -> EventSnapshot:
    """Call LeadPing (with bounded retries) while holding the event's lock, and cache the answer.

    `spent` is the budget's verdict on the first call, given when the lock was taken.
    """
    try:
        detail = _call_with_retries(
            event_id, deadline=deadline, spent=spent, refresh=stale is not None
        )
    except leadping.EventNotFound:
        cache.set(
            upstream.key("missing", event_id),
            True,
            timeout=settings.LEADPING_CACHE_MISSING_SECONDS,
            version=upstream.CACHE_VERSION,
        )
        raise
    except leadping.LeadPingError as error:
        if not isinstance(error, _NO_CALL_MADE):
            # Waiting callers read this instead of calling LeadPing again straight away, and
            # so does every lookup for one refresh interval (its look finds it). Not when the
            # budget or a Retry-After refused the call: none was made, and a first lookup may
            # have its call as soon as the budget allows, not an interval later.
            cache.set(
                upstream.key("failure", event_id),
                _describe(error),
                timeout=settings.LEADPING_CACHE_LIVE_SECONDS,
                version=upstream.CACHE_VERSION,
            )
        return _failed(event_id, stale, error)
    if stale is not None and stale.detail.answers_asked_id and not detail.answers_asked_id:
        # Mid-watch, an answer for another event would take the page over (and, were it
        # final, end the watch): the event's own last answer is kept and said to be stale.
        return _failed(event_id, stale, leadping.BadPayload(_ANSWER_FOR_ANOTHER_EVENT))
    return _store(event_id, detail, previous=stale)


_ANSWER_FOR_ANOTHER_EVENT = "LeadPing answered with another event's details."
# Refusals before any call: LeadPing's Retry-After, the desk's budget (a RateLimited too) and
# its pause while LeadPing fails.
_NO_CALL_MADE = (leadping.RateLimited, UpstreamPaused)


def _failed(event_id: str, stale: _Entry | None, error: leadping.LeadPingError) -> EventSnapshot:
    """The last good copy, held for a while with why it is stale, or `error` raised."""
    snapshot = _stale_or_raise(stale, error)
    _hold_stale(event_id, stale, snapshot.stale_reason)
    return snapshot


def _is_final(detail: EventDetail) -> bool:
    # An answer for another event may be LeadPing's mistake, to be put right by the next one.
    return is_final_status(detail.status) and detail.answers_asked_id


def _fresh_seconds(detail: EventDetail, *, unchanged_for: float) -> float:
    """How long an answer is fresh: long for a final event; for a live one, one refresh
    interval, growing to LEADPING_CACHE_QUIET_SECONDS as the answer stays the same (a
    twentieth of the time it has), so that tabs left open on an event stuck in "Sending"
    do not spend the budget at the pace of one that is moving."""
    if _is_final(detail):
        return settings.LEADPING_CACHE_FINAL_SECONDS
    live = settings.LEADPING_CACHE_LIVE_SECONDS
    return max(live, min(unchanged_for / 20, settings.LEADPING_CACHE_QUIET_SECONDS))


def _hold_stale(event_id: str, stale: _Entry | None, reason: str | None) -> None:
    """After a failed or refused call, serve the last good copy as the answer for one refresh
    interval (a final event's: CHECK_AGAIN_SECONDS): otherwise every request that follows
    (each viewer's poll) calls the failing LeadPing again, and a broken upstream is called as
    often as the budget allows. A copy the budget refused to refresh is held too, with its
    reason or (young enough) without: else every poll of a much-watched event asked again,
    and the events with the most viewers took the tokens as they came."""
    if stale is None:
        return
    age = max(0.0, (timezone.now() - stale.fetched_at).total_seconds())
    kept_for = settings.LEADPING_STALE_SECONDS - age
    if kept_for <= 0:
        # Older than LEADPING_STALE_SECONDS: no longer kept to show, so not held either.
        return
    # A final event is asked again at most as often as staff may "Check again" it.
    final = _is_final(stale.detail)
    every = CHECK_AGAIN_SECONDS if final else settings.LEADPING_CACHE_LIVE_SECONDS
    hold_for = min(every, kept_for)
    held = _Entry(
        detail=stale.detail,
        fetched_at=stale.fetched_at,
        fresh_until=time.time() + hold_for,
        unchanged_since=stale.unchanged_since,
        stale_reason=reason,
    )
    after_response.defer(
        partial(upstream.store_answer, event_id, held, fresh_for=hold_for, keep_for=kept_for)
    )


def _call_with_retries(
    event_id: str, *, deadline: float, spent: tuple[str, float], refresh: bool
) -> EventDetail:
    attempt = 0
    failed: leadping.UpstreamUnavailable | None = None
    while True:
        if attempt == 0:
            _refuse_unless_allowed(*spent)
        elif upstream.spend_call(refresh=refresh)[0] != "ok":
            # No retry now (the budget, a pause or a Retry-After): the lookup ends with how
            # LeadPing failed, not with the desk's pacing, and counts as a failure.
            raise failed
        remaining = deadline - time.monotonic()
        try:
            with metrics.timed_upstream_call():
                detail = leadping.fetch_event_detail(
                    event_id, within=remaining, headers=request_ids.upstream_headers()
                )
        except leadping.RateLimited as error:
            upstream.count("upstream_rate_limited")
            upstream.block_upstream(error.retry_after)
            raise
        except leadping.UpstreamUnavailable as error:
            upstream.count("upstream_unavailable")
            # Each failed call counts towards the pause, retries included.
            upstream.note_failure(pause_after=FAILURES_BEFORE_PAUSE)
            pause = _retry_pause(attempt)
            if (
                not error.retryable
                or attempt >= settings.LEADPING_MAX_RETRIES
                or time.monotonic() + pause + 0.5 > deadline
            ):
                raise
            failed = error
            attempt += 1
            upstream.count("upstream_retries")
            time.sleep(pause)
            continue
        except leadping.LeadPingError as error:
            upstream.count(_OUTCOME_COUNTERS.get(type(error), "upstream_bad_payload"))
            if isinstance(error, leadping.NotAuthorised):
                _refusals.remember(event_id, error)
            # An answer the desk cannot read counts nothing towards the pause: LeadPing
            # answered, and one malformed event watched for ten intervals paused lookups of
            # every other event. Its failure mark already holds it to a call per interval.
            raise
        upstream.count("upstream_ok")
        after_response.defer(upstream.clear_backoff)
        return detail


_OUTCOME_COUNTERS = {
    leadping.EventNotFound: "upstream_not_found",
    leadping.NotAuthorised: "upstream_not_authorised",
    leadping.BadPayload: "upstream_bad_payload",
}

_LOOKUP_OUTCOMES: dict[type[leadping.LeadPingError], str] = {
    leadping.EventNotFound: "not_found",
    leadping.NotAuthorised: "not_authorised",
    leadping.RateLimited: "rate_limited",
    leadping.UpstreamUnavailable: "unavailable",
    leadping.BadPayload: "bad_payload",
}


def _retry_pause(attempt: int) -> float:
    """Exponential backoff with full jitter: up to 0.25 s, 0.5 s, 1 s…"""
    return random.uniform(0, 0.25 * 2**attempt)  # noqa: S311


def _refuse_unless_allowed(verdict: str, seconds: float) -> None:
    """Refuse the call while LeadPing's Retry-After runs, or when the budget is spent."""
    if verdict == "blocked":
        upstream.count("retry_after_refusals")
        # In the words of the 429 that started the block: a watched event's note does not
        # change (and redraw its panel) between the 429 and the refusals that follow it.
        raise leadping.RateLimited(retry_after=seconds)
    if verdict == "paused":
        upstream.count("pause_refusals")
        raise UpstreamPaused(retry_after=seconds)
    if verdict == "budget":
        upstream.count("budget_refusals")
        raise BudgetExhausted(retry_after=seconds)


_SHAREABLE_ERRORS: dict[str, type[leadping.LeadPingError]] = {
    cls.__name__: cls
    for cls in (
        leadping.NotAuthorised,
        leadping.RateLimited,
        BudgetExhausted,
        leadping.UpstreamUnavailable,
        leadping.BadPayload,
    )
}


def _describe(error: leadping.LeadPingError) -> dict[str, object]:
    """A cacheable description of an error (exceptions with keyword arguments do not pickle)."""
    return {
        "kind": type(error).__name__,
        "message": error.message,
        "retry_after": getattr(error, "retry_after", None),
    }


def _rebuild(description: object) -> leadping.LeadPingError | None:
    if not isinstance(description, dict):
        return None
    cls = _SHAREABLE_ERRORS.get(str(description.get("kind")), leadping.UpstreamUnavailable)
    message = str(description.get("message") or "") or None
    if issubclass(cls, leadping.RateLimited):
        retry_after = description.get("retry_after")
        return cls(
            message, retry_after=retry_after if isinstance(retry_after, float | int) else None
        )
    return cls(message)


def _stale_or_raise(stale: _Entry | None, error: leadping.LeadPingError) -> EventSnapshot:
    """Serve the last good copy, marked with the reason, when LeadPing cannot answer now.

    The desk's own pacing (the budget, its waiting limit, another caller's call) is not said
    while the copy is younger than a few refresh intervals: with many events watched the
    budget refuses one refresh in two, and the note came and went on every other poll. The
    copy's time is on the panel either way."""
    if stale is None or isinstance(error, leadping.NotAuthorised):
        raise error
    if isinstance(error, _DESKS_OWN_PACING) and _age_seconds(stale) < _QUIET_PACING_INTERVALS * (
        settings.LEADPING_CACHE_LIVE_SECONDS
    ):
        return stale.snapshot()
    # Counted as the page shows it: a copy said to be stale (as lookups_total's "stale").
    upstream.count("stale_served")
    return stale.snapshot(stale_reason=error.message)


_QUIET_PACING_INTERVALS = 3


class _BeingRefreshed(leadping.UpstreamUnavailable):
    """Another request is asking LeadPing for the event right now (never raised: the reason
    an old copy is shown meanwhile)."""

    message = "The desk is asking LeadPing for a newer copy right now."


_DESKS_OWN_PACING = (BudgetExhausted, DeskBusy, _BeingRefreshed)


def _age_seconds(entry: _Entry) -> float:
    return max(0.0, (timezone.now() - entry.fetched_at).total_seconds())


def _wait_for_other_caller(
    event_id: str, *, stale: _Entry | None, deadline: float
) -> EventSnapshot | None:
    """Wait (bounded) for the caller holding the lock; None if it left without an answer."""
    wait_until = min(deadline, time.monotonic() + settings.LEADPING_COALESCE_WAIT_SECONDS)
    while time.monotonic() < wait_until:
        time.sleep(_WAIT_STEP_SECONDS)
        # Look at the lock first: the holder stores its answer before it lets go.
        still_fetching = upstream.lock_held(event_id)
        entry = _cached(event_id)
        if entry is not None and entry.is_fresh:
            return entry.snapshot()
        failure = _rebuild(
            cache.get(upstream.key("failure", event_id), version=upstream.CACHE_VERSION)
        )
        if failure is not None:
            return _stale_or_raise(stale, failure)
        if cache.get(upstream.key("missing", event_id), version=upstream.CACHE_VERSION):
            raise leadping.EventNotFound()
        if not still_fetching:
            return None
    return _stale_or_raise(
        stale, leadping.UpstreamUnavailable("LeadPing is slow to answer right now.")
    )
