"""Shared state that keeps the desk gentle with LeadPing's API, across threads and processes.

LeadPing allows 300 calls per 60 s per business, shared with every other integration of
that business (../shared/leadping-api/README.md). Everything here lives in Django's cache:
local memory by default (one process: `make run` starts one gunicorn worker), Redis when
REDIS_URL is set, where the atomic parts run as Lua scripts so that several processes and
hosts share one budget, one lock per event and one Retry-After.
"""

import contextlib
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

from events import after_response

logger = logging.getLogger(__name__)

# Bump when the shape of what is cached changes, so old entries are simply not seen.
CACHE_VERSION = 1
_NAMESPACE = "leadping"

COUNTERS = (
    "upstream_ok",
    "upstream_not_found",
    "upstream_not_authorised",
    "upstream_rate_limited",
    "upstream_unavailable",
    "upstream_bad_payload",
    "upstream_retries",
    "cache_hits",
    "cache_misses",
    "coalesced_waits",
    "budget_refusals",
    "retry_after_refusals",
    "pause_refusals",
    "busy_refusals",
    "stale_served",
    "polls_served",
    "polls_unchanged",
)


def key(*parts: str) -> str:
    """A namespaced cache key, e.g. key("event", "abc") -> "leadping:event:abc"."""
    return ":".join((_NAMESPACE, *parts))


def _redis() -> Any | None:
    """The raw redis-py client behind Django's RedisCache, or None on other backends."""
    backend = caches["default"]  # `cache` is a proxy: isinstance needs the real backend
    if isinstance(backend, RedisCache):
        return backend._cache.get_client(write=True)
    return None


# --- counters -----------------------------------------------------------------------------


def count(name: str, amount: int = 1) -> None:
    """Add to a counter shared by every process using the cache.

    In a request the increments are summed and written once its response has been sent
    (events.after_response); elsewhere at once.
    """
    pending = after_response.batch(_COUNTER_BATCH)
    if pending is None:
        add_counts({name: amount})
    else:
        pending[name] += amount


def add_counts(amounts: Mapping[str, int]) -> None:
    """Add to several counters: one round trip on Redis (INCRBY creates the keys)."""
    client = _redis()
    if client is not None:
        with client.pipeline(transaction=False) as pipe:
            for name, amount in amounts.items():
                counter = cache.make_and_validate_key(key("counter", name), version=CACHE_VERSION)
                pipe.incrby(counter, amount)
            pipe.execute()
        return
    for name, amount in amounts.items():
        counter = key("counter", name)
        cache.add(counter, 0, timeout=None, version=CACHE_VERSION)
        # Evicted between add and incr: losing one count is harmless.
        with contextlib.suppress(ValueError):
            cache.incr(counter, amount, version=CACHE_VERSION)


_COUNTER_BATCH = "counters"
after_response.register_batch(_COUNTER_BATCH, add_counts)


def read_counters() -> dict[str, int]:
    values = cache.get_many([key("counter", name) for name in COUNTERS], version=CACHE_VERSION)
    return {name: int(values.get(key("counter", name), 0)) for name in COUNTERS}


def reset_counters() -> None:
    cache.delete_many([key("counter", name) for name in COUNTERS], version=CACHE_VERSION)


# --- the call budget: a token bucket ------------------------------------------------------

# A bucket of `burst` tokens refilled at (calls - burst) / period per second: no window of
# `period` seconds can ever see more than `calls` upstream calls. With ARGV[3] = 1, a running
# Retry-After (KEYS[2], a key that expires with it) is looked at first and spends no token;
# so is a pause after LeadPing failed many calls in a row (the same key, holding 'failing').
# A refresh of an event the desk has a copy of leaves `reserve` tokens in the bucket, for
# first lookups, which have nothing else to show.
# spend() gives the verdict and seconds: 'ok' 0, 'budget' wait, or 'blocked' (or 'paused')
# and the time left.
_SPEND_FUNCTION = """
local function spend(reserve)
  if ARGV[3] == '1' then
    local blocked = redis.call('PTTL', KEYS[2])
    if blocked > 0 then
      if redis.call('GET', KEYS[2]) == 'failing' then return 'paused', blocked / 1000 end
      return 'blocked', blocked / 1000
    end
  end
  local capacity = tonumber(ARGV[1])
  local rate = tonumber(ARGV[2])
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
  local tokens = tonumber(state[1]) or capacity
  local at = tonumber(state[2]) or now
  tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
  local verdict, wait = 'ok', 0
  if tokens >= 1 + reserve then
    tokens = tokens - 1
  else
    verdict, wait = 'budget', (1 + reserve - tokens) / rate
  end
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
  return verdict, wait
end
"""
_SPEND_LUA = (
    _SPEND_FUNCTION
    + """
local verdict, seconds = spend(tonumber(ARGV[4]))
return {verdict, tostring(seconds)}
"""
)
_local_bucket_lock = threading.Lock()
_local_bucket: dict[str, float] = {}


def _bucket_shape() -> tuple[float, float]:
    calls = settings.LEADPING_BUDGET_CALLS
    burst = min(settings.LEADPING_BUDGET_BURST, calls)
    rate = max(calls - burst, 1) / settings.LEADPING_BUDGET_SECONDS
    return float(max(burst, 1)), rate


def refresh_reserve() -> float:
    """Tokens a refresh (an event the desk has a copy of) must leave for first lookups: a
    refresh can show its copy meanwhile, a first lookup has nothing to show. Never the whole
    bucket, so that refreshes still get the budget when nobody looks anything new up."""
    capacity, _rate = _bucket_shape()
    return float(min(settings.LEADPING_BUDGET_RESERVE, capacity - 1))


def take_budget_token(*, refresh: bool = False) -> float:
    """Spend one upstream call: 0.0 when allowed, else the seconds until one is available.
    A `refresh` must leave refresh_reserve() tokens in the bucket."""
    if _redis() is not None:
        return _spend_on_redis(check_blocked=False, refresh=refresh)[1]
    capacity, rate = _bucket_shape()
    reserve = refresh_reserve() if refresh else 0.0
    with _local_bucket_lock:
        now = time.monotonic()
        tokens = _local_bucket.get("tokens", capacity)
        at = _local_bucket.get("at", now)
        tokens = min(capacity, tokens + max(0.0, now - at) * rate)
        wait = 0.0
        if tokens >= 1 + reserve:
            tokens -= 1
        else:
            wait = (1 + reserve - tokens) / rate
        _local_bucket.update(tokens=tokens, at=now)
        return wait


def spend_call(*, refresh: bool = False) -> tuple[str, float]:
    """May LeadPing be called now? ("ok", 0.0), or why not and for how many seconds:
    ("blocked", s) while a Retry-After runs, ("paused", s) while calls pause after LeadPing
    failed many in a row, ("budget", s) when the budget is spent (for a `refresh`: down to
    the reserve kept for first lookups)."""
    if _redis() is not None:
        return _spend_on_redis(check_blocked=True, refresh=refresh)
    blocked, why = _blocked()
    if blocked > 0:
        return ("paused" if why == FAILING else "blocked"), blocked
    wait = take_budget_token(refresh=refresh)
    return ("budget", wait) if wait > 0 else ("ok", 0.0)


def _spend_on_redis(*, check_blocked: bool, refresh: bool) -> tuple[str, float]:
    capacity, rate = _bucket_shape()
    bucket = cache.make_key(key("budget"), version=CACHE_VERSION)
    blocked = cache.make_key(key("blocked-until"), version=CACHE_VERSION)
    reserve = refresh_reserve() if refresh else 0.0
    verdict, seconds = _redis().eval(
        _SPEND_LUA, 2, bucket, blocked, capacity, rate, int(check_blocked), reserve
    )
    return (verdict.decode() if isinstance(verdict, bytes) else str(verdict)), float(seconds)


def reset_budget() -> None:
    """Refill the bucket (tests and the benchmark start from a full budget)."""
    cache.delete(key("budget"), version=CACHE_VERSION)
    with _local_bucket_lock:
        _local_bucket.clear()


# --- Retry-After, honoured by every process -----------------------------------------------


# Why calls are blocked: LeadPing's 429 (its Retry-After, or backing off without one), or
# LeadPing failing call after call (the desk pauses, backing off the same way).
RATE_LIMITED, FAILING = "rate-limited", "failing"


def blocked_for() -> float:
    """Seconds left before LeadPing may be called again (0.0 when it may be called now)."""
    return _blocked()[0]


def _blocked() -> tuple[float, str]:
    client = _redis()
    if client is not None:
        # On Redis the block is a key that expires with it: no clocks to compare.
        name = cache.make_key(key("blocked-until"), version=CACHE_VERSION)
        with client.pipeline(transaction=False) as pipe:
            left, why = pipe.pttl(name).get(name).execute()
        if not left or left <= 0:
            return 0.0, RATE_LIMITED
        return left / 1000, FAILING if why == FAILING.encode() else RATE_LIMITED
    block = cache.get(key("blocked-until"), version=CACHE_VERSION)
    if not isinstance(block, tuple):
        return 0.0, RATE_LIMITED
    until, why = block
    return max(0.0, until - time.time()), why


def block_upstream(retry_after: float | None, *, why: str = RATE_LIMITED) -> float:
    """Stop all calls for Retry-After seconds; without one, back off exponentially with jitter."""
    if retry_after is None:
        level_key = key("backoff-level", why)
        cache.add(level_key, 0, timeout=_BACKOFF_MEMORY_SECONDS, version=CACHE_VERSION)
        try:
            level = cache.incr(level_key, version=CACHE_VERSION)
        except ValueError:
            level = 1
        # Remembered from the last backoff, not the first: an outage longer than that would
        # otherwise start again at a second or two.
        cache.touch(level_key, _BACKOFF_MEMORY_SECONDS, version=CACHE_VERSION)
        cap = settings.LEADPING_BACKOFF_MAX_SECONDS
        retry_after = random.uniform(0.5, 1.0) * min(cap, 2.0**level)  # noqa: S311
    seconds = max(retry_after, 0.5)
    client = _redis()
    if client is not None:
        blocked_key = cache.make_key(key("blocked-until"), version=CACHE_VERSION)
        client.set(blocked_key, why, px=max(1, round(seconds * 1000)))
        return seconds
    cache.set(
        key("blocked-until"),
        (time.time() + seconds, why),
        timeout=int(seconds) + 1,
        version=CACHE_VERSION,
    )
    return seconds


_BACKOFF_MEMORY_SECONDS = 600


def note_failure(*, pause_after: int) -> float | None:
    """Count a call LeadPing failed (a retry is a call too); at `pause_after` in a row,
    whatever the event, pause every call (backing off as after a 429 without Retry-After) and
    return for how long. A LeadPing that fails every call was otherwise called at the
    budget's pace."""
    failures = key("failures-in-a-row")
    cache.add(failures, 0, timeout=600, version=CACHE_VERSION)
    try:
        count = cache.incr(failures, version=CACHE_VERSION)
    except ValueError:
        count = 1
    if count < pause_after:
        return None
    cache.delete(failures, version=CACHE_VERSION)
    return block_upstream(None, why=FAILING)


def clear_backoff() -> None:
    """After a call LeadPing answered: the next backoff or pause starts short again."""
    cache.delete_many(
        [
            key("backoff-level", RATE_LIMITED),
            key("backoff-level", FAILING),
            key("failures-in-a-row"),
        ],
        version=CACHE_VERSION,
    )


# --- single-flight: one upstream call per event at a time ---------------------------------

_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


# Without Redis the cache is this process's memory: one guard makes release atomic.
_local_lock_guard = threading.Lock()


def acquire_lock(name: str, *, ttl: float) -> int | None:
    """Take the lock `name` for at most `ttl` seconds; returns its token, or None if held."""
    # An int token is stored unpickled by RedisCache, so the release script can compare it.
    token = secrets.randbits(62)
    with _local_lock_guard:
        if cache.add(key("lock", name), token, timeout=_lock_seconds(ttl), version=CACHE_VERSION):
            return token
    return None


@dataclass(frozen=True)
class Look:
    """What one look at an event's cache entries found, and the lock if it was taken.

    `stored` is the cached answer, fresh or not (a stale copy can still be served when
    LeadPing fails). When the answer is neither fresh nor known missing, the look also tried
    to take the event's lock: `token` is set if it did, and `spent` is then the budget's
    verdict on the upstream call the lock is for ("ok", or why not and for how long).
    """

    stored: Any = None
    fresh: bool = False
    missing: bool = False
    # How the last call for the event failed, within one refresh interval: not asked again.
    failure: Any = None
    token: int | None = None
    spent: tuple[str, float] = ("ok", 0.0)


def look(name: str, *, ttl: float, is_fresh: Callable[[Any], bool], take_lock: bool = True) -> Look:
    """Read an event's answer and "missing" mark; if there is no fresh answer, take its lock
    (for at most `ttl` seconds) and spend the call it is for. One round trip on Redis.
    With take_lock=False only look: no lock is taken and no budget token spent.

    `is_fresh` judges a stored answer on local memory; on Redis the answer is fresh while
    its freshness mark lives (store_answer sets both).
    """
    client = _redis()
    if client is not None:
        return _look_on_redis(client, name, ttl=ttl, take_lock=take_lock)
    names = [key("event", name), key("missing", name), key("failure", name)]
    found = cache.get_many(names, version=CACHE_VERSION)
    stored = found.get(key("event", name))
    if stored is not None and is_fresh(stored):
        return Look(stored, fresh=True)
    if found.get(key("missing", name)):
        return Look(stored, missing=True)
    if found.get(key("failure", name)) is not None:
        return Look(stored, failure=found[key("failure", name)])
    if not take_lock:
        return Look(stored)
    token = acquire_lock(name, ttl=ttl)
    if token is None:
        return Look(stored)
    # The previous holder may have stored its answer between our look and the lock.
    latest = cache.get(key("event", name), version=CACHE_VERSION)
    if latest is not None and is_fresh(latest):
        release_lock(name, token)
        return Look(latest, fresh=True)
    stored = latest if latest is not None else stored
    # Staff asked to check it again (services.check_again): as urgent as a first lookup.
    asked = cache.get(key("check-again", name), version=CACHE_VERSION)
    refresh = stored is not None and asked is None
    return Look(stored, token=token, spent=spend_call(refresh=refresh))


# Look at an event's answer (KEYS[3]), its freshness mark (KEYS[4]), "missing" mark
# (KEYS[5]) and failure mark (KEYS[7]); unless the answer is fresh, missing or failed (or
# ARGV[6] is '0': look only), take its lock (KEYS[6], token ARGV[4] for ARGV[5] seconds)
# and, if it was free, spend the call it is for (a refresh, if there is an answer and staff
# did not ask to check it again (KEYS[8]): leaving ARGV[7] tokens). Replies {state, answer,
# verdict, seconds}
# or {'failed', answer, failure}: state 'fresh', 'missing', 'failed', 'held' (another
# caller fetches, or the lock was not asked for) or 'locked'.
_LOOK_LUA = (
    _SPEND_FUNCTION
    + """
local answer = redis.call('GET', KEYS[3])
if answer and redis.call('EXISTS', KEYS[4]) == 1 then return {'fresh', answer} end
if redis.call('EXISTS', KEYS[5]) == 1 then return {'missing', answer} end
local failure = redis.call('GET', KEYS[7])
if failure then return {'failed', answer or false, failure} end
if ARGV[6] == '0' then return {'held', answer} end
if not redis.call('SET', KEYS[6], ARGV[4], 'NX', 'EX', ARGV[5]) then return {'held', answer} end
local reserve = 0
if answer and redis.call('EXISTS', KEYS[8]) == 0 then reserve = tonumber(ARGV[7]) end
local verdict, seconds = spend(reserve)
return {'locked', answer, verdict, tostring(seconds)}
"""
)


def _look_on_redis(client: Any, name: str, *, ttl: float, take_lock: bool = True) -> Look:
    token = secrets.randbits(62)
    capacity, rate = _bucket_shape()
    reply = client.eval(
        _LOOK_LUA,
        8,
        cache.make_key(key("budget"), version=CACHE_VERSION),
        cache.make_key(key("blocked-until"), version=CACHE_VERSION),
        cache.make_key(key("event", name), version=CACHE_VERSION),
        cache.make_key(key("fresh", name), version=CACHE_VERSION),
        cache.make_key(key("missing", name), version=CACHE_VERSION),
        cache.make_key(key("lock", name), version=CACHE_VERSION),
        cache.make_key(key("failure", name), version=CACHE_VERSION),
        cache.make_key(key("check-again", name), version=CACHE_VERSION),
        capacity,
        rate,
        1,
        token,
        _lock_seconds(ttl),
        int(take_lock),
        refresh_reserve(),
    )
    state = _text(reply[0])
    stored = _decoded(reply[1] if len(reply) > 1 else None, name)
    if state == "fresh":
        return Look(stored, fresh=True)
    if state == "missing":
        return Look(stored, missing=True)
    if state == "failed":
        return Look(stored, failure=_decoded(reply[2], name))
    if state == "held":
        return Look(stored)
    return Look(stored, token=token, spent=(_text(reply[2]), float(reply[3])))


def _decoded(raw: bytes | None, name: str) -> Any:
    """A stored answer as get() would give it; None if it cannot be read (written by another
    release of the desk, or damaged), so that it is fetched anew rather than failing the page."""
    try:
        return caches["default"].decode(raw)
    except Exception:  # unpickling can raise nearly anything
        logger.warning("the cached answer for %s could not be read; fetching it anew", name)
        return None


def forget_answer(name: str) -> None:
    """Drop an event's cached answer and its freshness mark (the answer could not be read)."""
    cache.delete_many([key("event", name), key("fresh", name)], version=CACHE_VERSION)


def mark_not_fresh(name: str, value: Any, *, keep_for: float) -> None:
    """Keep an event's answer (`value`, no longer fresh by its own time), to be served should
    LeadPing fail, but have the next look ask LeadPing. On Redis its freshness mark goes."""
    if _redis() is None:
        cache.set(key("event", name), value, timeout=keep_for, version=CACHE_VERSION)
    else:
        cache.delete(key("fresh", name), version=CACHE_VERSION)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def store_answer(name: str, value: Any, *, fresh_for: float, keep_for: float) -> None:
    """Cache an event's answer: fresh for `fresh_for` seconds, kept (to be served stale if
    LeadPing fails) for `keep_for`; any failure mark of the event goes. One round trip."""
    client = _redis()
    if client is None:
        cache.set(key("event", name), value, timeout=keep_for, version=CACHE_VERSION)
        cache.delete(key("failure", name), version=CACHE_VERSION)
        return
    backend = caches["default"]
    with client.pipeline(transaction=True) as pipe:
        pipe.set(
            backend.make_and_validate_key(key("event", name), version=CACHE_VERSION),
            backend.encode(value),
            px=max(1, round(keep_for * 1000)),
        )
        pipe.set(
            backend.make_and_validate_key(key("fresh", name), version=CACHE_VERSION),
            1,
            px=max(1, round(fresh_for * 1000)),
        )
        pipe.delete(backend.make_and_validate_key(key("failure", name), version=CACHE_VERSION))
        pipe.execute()


def _lock_seconds(ttl: float) -> int:
    return max(1, int(ttl + 0.999))


def lock_held(name: str) -> bool:
    return cache.get(key("lock", name), version=CACHE_VERSION) is not None


def release_lock(name: str, token: int) -> None:
    """Release the lock only if it is still ours (it may have expired and been re-taken)."""
    lock = key("lock", name)
    client = _redis()
    if client is not None:
        client.eval(_RELEASE_LUA, 1, cache.make_key(lock, version=CACHE_VERSION), token)
        return
    with _local_lock_guard:
        if cache.get(lock, version=CACHE_VERSION) == token:
            cache.delete(lock, version=CACHE_VERSION)
