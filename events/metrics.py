"""`/metrics`: the desk's counters in Prometheus' text format, and the upstream latency histogram.

Every number lives in the counters of `events.upstream`, so with REDIS_URL set they are the
totals of every process and instance sharing that Redis (scrape any one instance; aggregate
several with max(), not sum()); with the local-memory cache they are this process's own. A
cache flush starts them again from zero, which Prometheus reads as a counter reset.

The text format is written by hand (https://prometheus.io/docs/instrumenting/exposition_formats/):
a dozen fixed series do not justify another dependency.
"""

import hmac
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from redis.exceptions import RedisError

from events import upstream

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Upper bounds, in seconds, of the upstream latency buckets (+Inf is implied).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_INF = "+Inf"
_SUM_MICROSECONDS = "upstream_seconds_sum_us"

# The service layer's answer to a lookup (see services.lookup_event).
LOOKUP_OUTCOMES = (
    "found",
    "stale",
    "not_found",
    "invalid_id",
    "not_authorised",
    "rate_limited",
    "unavailable",
    "bad_payload",
)

_UPSTREAM_OUTCOMES = {
    "ok": "upstream_ok",
    "not_found": "upstream_not_found",
    "not_authorised": "upstream_not_authorised",
    "rate_limited": "upstream_rate_limited",
    "unavailable": "upstream_unavailable",
    "bad_payload": "upstream_bad_payload",
}


def _bucket_counter(bound: str) -> str:
    return f"upstream_seconds_le_{bound}"


def _lookup_counter(outcome: str) -> str:
    return f"lookups_{outcome}"


def count_lookup(outcome: str) -> None:
    """Count one answer of services.lookup_event, by outcome (one of LOOKUP_OUTCOMES)."""
    upstream.count(_lookup_counter(outcome))


def observe_upstream_seconds(seconds: float) -> None:
    """Record one upstream call's duration: one bucket counter (not cumulative) and the sum."""
    bound = next((str(le) for le in LATENCY_BUCKETS if seconds <= le), _INF)
    upstream.count(_bucket_counter(bound))
    upstream.count(_SUM_MICROSECONDS, max(0, round(seconds * 1_000_000)))


@contextmanager
def timed_upstream_call() -> Iterator[None]:
    """Time the block, however it ends, into the upstream latency histogram."""
    started = time.monotonic()
    try:
        yield
    finally:
        observe_upstream_seconds(time.monotonic() - started)


def _read(names: list[str]) -> dict[str, int]:
    keys = {upstream.key("counter", name): name for name in names}
    values = cache.get_many(list(keys), version=upstream.CACHE_VERSION)
    return {name: int(values.get(key, 0)) for key, name in keys.items()}


def read_latency_histogram() -> tuple[list[tuple[str, int]], float, int]:
    """Cumulative (le, count) pairs ending with +Inf, the sum in seconds, and the count."""
    bounds = [*(str(le) for le in LATENCY_BUCKETS), _INF]
    values = _read([*(_bucket_counter(bound) for bound in bounds), _SUM_MICROSECONDS])
    cumulative: list[tuple[str, int]] = []
    running = 0
    for bound in bounds:
        running += values[_bucket_counter(bound)]
        cumulative.append((bound, running))
    return cumulative, values[_SUM_MICROSECONDS] / 1_000_000, running


def render() -> str:
    """Every metric of the desk, in the Prometheus text exposition format."""
    counters = upstream.read_counters()
    lookups = _read([_lookup_counter(outcome) for outcome in LOOKUP_OUTCOMES])
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{name}{labels} {_number(value)}" for labels, value in samples)

    family(
        "leadping_upstream_calls_total",
        "counter",
        "Calls to LeadPing's event detail endpoint, by outcome.",
        [(f'{{outcome="{o}"}}', counters[c]) for o, c in _UPSTREAM_OUTCOMES.items()],
    )
    family(
        "leadping_upstream_retries_total",
        "counter",
        "Upstream calls repeated after a timeout, connection error or 502/503/504.",
        [("", counters["upstream_retries"])],
    )
    buckets, total_seconds, calls = read_latency_histogram()
    family(
        "leadping_upstream_call_duration_seconds",
        "histogram",
        "Duration of calls to LeadPing, body included, whatever their outcome.",
        [],
    )
    name = "leadping_upstream_call_duration_seconds"
    lines.extend(f'{name}_bucket{{le="{le}"}} {n}' for le, n in buckets)
    lines.append(f"{name}_sum {_number(total_seconds)}")
    lines.append(f"{name}_count {calls}")
    family(
        "leadping_cache_requests_total",
        "counter",
        "Lookups answered from the desk's cache (hit) or needing LeadPing (miss).",
        [('{result="hit"}', counters["cache_hits"]), ('{result="miss"}', counters["cache_misses"])],
    )
    family(
        "leadping_coalesced_waits_total",
        "counter",
        "Lookups that waited for another caller's call for the same event (single-flight).",
        [("", counters["coalesced_waits"])],
    )
    family(
        "leadping_refused_calls_total",
        "counter",
        "Upstream calls the desk did not make: its budget was spent, a Retry-After ran, "
        "calls were paused after LeadPing failed many in a row, or too many requests were "
        "already waiting on LeadPing.",
        [
            ('{reason="budget"}', counters["budget_refusals"]),
            ('{reason="retry_after"}', counters["retry_after_refusals"]),
            ('{reason="upstream_failing"}', counters["pause_refusals"]),
            ('{reason="busy"}', counters["busy_refusals"]),
        ],
    )
    family(
        "leadping_stale_served_total",
        "counter",
        "Last good copies served, marked stale, because LeadPing could not answer.",
        [("", counters["stale_served"])],
    )
    family(
        "leadping_polls_served_total",
        "counter",
        "Live status polls answered, and how many of those found nothing changed (204).",
        [
            ('{changed="true"}', counters["polls_served"] - counters["polls_unchanged"]),
            ('{changed="false"}', counters["polls_unchanged"]),
        ],
    )
    family(
        "leadping_lookups_total",
        "counter",
        "Event lookups through the service layer, by what the caller got.",
        [(f'{{outcome="{o}"}}', lookups[_lookup_counter(o)]) for o in LOOKUP_OUTCOMES],
    )
    family(
        "leadping_upstream_blocked_seconds",
        "gauge",
        "Seconds left of a Retry-After (or backoff) during which no call is made.",
        [("", round(upstream.blocked_for(), 3))],
    )
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _bearer_token(request: HttpRequest) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus scrape target: METRICS_TOKEN as a Bearer token, or a staff member's login."""
    offered = _bearer_token(request)
    expected = settings.METRICS_TOKEN
    if offered is not None:
        allowed = bool(expected) and hmac.compare_digest(offered.encode(), expected.encode())
    else:
        user = request.user
        allowed = user.is_authenticated and user.is_active and user.is_staff
        if user.is_authenticated and not allowed:
            return _refusal("Metrics are for staff accounts.", 403)
    if not allowed:
        return _refusal("Send the metrics token as 'Authorization: Bearer <token>'.", 401)
    try:
        text = render()
    except RedisError as error:
        # A scrape that fails is a gap in the graphs; a 503 says why, a 500 would not. Redis
        # down is said at WARNING, as by /readyz, not at every scrape as the desk's own fault.
        logger.warning("the shared cache failed while reading metrics: %r", error)
        request.failure_expected = True
        return _refusal("The desk cannot reach its shared cache (Redis) for the counters.", 503)
    return HttpResponse(text, content_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})


def _refusal(message: str, status: int) -> HttpResponse:
    response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    response["Cache-Control"] = "no-store"
    return response
