import dataclasses
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest
import requests
import responses
from django.core.cache import cache

from events import leadping, services, upstream
from events.detail import parse_event_detail
from events.event_ids import InvalidEventId
from tests.conftest import TEST_API_BASE, payload

LIVE = "evt-live-1"
FINAL = "evt-final-1"


def url(event_id: str) -> str:
    return f"{TEST_API_BASE}/events/{event_id}/detail"


def body(event_id: str, status: str = "Completed") -> dict:
    return {**payload("sms_delivered.json"), "id": event_id, "status": status}


@pytest.fixture
def upstream_mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture(autouse=True)
def _no_sleeping_between_retries(monkeypatch):
    monkeypatch.setattr(services, "_retry_pause", lambda attempt: 0.0)


def expire(event_id: str, *, age: float = 0) -> None:
    """Make the cached copy of an event stale without waiting for it (and `age` s older)."""
    entry = services._cached(event_id)
    fetched_at = entry.fetched_at - timedelta(seconds=age)
    stale = services._Entry(detail=entry.detail, fetched_at=fetched_at, fresh_until=0)
    cache.set(upstream.key("event", event_id), stale, version=upstream.CACHE_VERSION)
    # On Redis an answer is fresh while its freshness mark lives.
    cache.delete(upstream.key("fresh", event_id), version=upstream.CACHE_VERSION)


# --- cache --------------------------------------------------------------------------------


def test_a_second_lookup_is_served_from_the_cache(upstream_mock):
    upstream_mock.get(url(FINAL), json=body(FINAL))
    first = services.lookup_event(event_id=FINAL)
    second = services.lookup_event(event_id=FINAL)
    assert len(upstream_mock.calls) == 1
    assert not first.from_cache
    assert second.from_cache
    assert second.detail == first.detail
    counters = upstream.read_counters()
    assert counters["cache_hits"] == 1
    assert counters["cache_misses"] == 1
    assert counters["upstream_ok"] == 1


def test_final_events_are_cached_long_and_live_ones_for_the_refresh_interval(
    upstream_mock, settings
):
    settings.LEADPING_CACHE_FINAL_SECONDS = 600
    settings.LEADPING_CACHE_LIVE_SECONDS = 5
    upstream_mock.get(url(FINAL), json=body(FINAL, "Failed"))
    upstream_mock.get(url(LIVE), json=body(LIVE, "InProgress"))
    services.lookup_event(event_id=FINAL)
    services.lookup_event(event_id=LIVE)
    now = time.time()
    assert services._cached(FINAL).fresh_until - now == pytest.approx(600, abs=2)
    assert services._cached(LIVE).fresh_until - now == pytest.approx(5, abs=2)
    client = upstream._redis()
    if client is not None:
        # On Redis the answer is fresh while its mark lives; the answer itself is kept longer.
        def ttl(kind, event_id):
            name = cache.make_key(upstream.key(kind, event_id), version=upstream.CACHE_VERSION)
            return client.pttl(name) / 1000

        assert ttl("fresh", FINAL) == pytest.approx(600, abs=2)
        assert ttl("fresh", LIVE) == pytest.approx(5, abs=2)
        assert ttl("event", LIVE) == pytest.approx(settings.LEADPING_STALE_SECONDS, abs=2)


def backdate(event_id: str, *, minutes: float) -> None:
    """Make LeadPing seem to have given the cached answer for `minutes` longer, and expire it."""
    entry = services._cached(event_id)
    since = (entry.unchanged_since or entry.fetched_at) - timedelta(minutes=minutes)
    older = dataclasses.replace(entry, unchanged_since=since, fresh_until=0)
    cache.set(upstream.key("event", event_id), older, version=upstream.CACHE_VERSION)
    cache.delete(upstream.key("fresh", event_id), version=upstream.CACHE_VERSION)


def fresh_for(event_id: str) -> float:
    """How long the cached answer stays fresh, from now; on Redis, its freshness mark too."""
    seconds = services._cached(event_id).fresh_until - time.time()
    client = upstream._redis()
    if client is not None:
        name = cache.make_key(upstream.key("fresh", event_id), version=upstream.CACHE_VERSION)
        assert client.pttl(name) / 1000 == pytest.approx(seconds, abs=2)
    return seconds


def test_a_live_event_that_stays_the_same_is_asked_less_often(upstream_mock, settings):
    settings.LEADPING_CACHE_LIVE_SECONDS = 5
    settings.LEADPING_CACHE_QUIET_SECONDS = 60
    upstream_mock.get(url(LIVE), json=body(LIVE, "Pending"))
    services.lookup_event(event_id=LIVE)
    assert fresh_for(LIVE) == pytest.approx(5, abs=2)

    # The same answer for ten minutes: fresh for a twentieth of that.
    backdate(LIVE, minutes=10)
    services.lookup_event(event_id=LIVE)
    assert fresh_for(LIVE) == pytest.approx(30, abs=2)
    # Never longer than LEADPING_CACHE_QUIET_SECONDS, however long it stays the same.
    backdate(LIVE, minutes=600)
    services.lookup_event(event_id=LIVE)
    assert fresh_for(LIVE) == pytest.approx(60, abs=2)
    assert len(upstream_mock.calls) == 3

    # Anything new in the answer and it is asked at the refresh interval again.
    upstream_mock.replace(responses.GET, url(LIVE), json=body(LIVE, "Sent"))
    backdate(LIVE, minutes=0)
    services.lookup_event(event_id=LIVE)
    assert services._cached(LIVE).detail.status == "Sent"
    assert fresh_for(LIVE) == pytest.approx(5, abs=2)


def test_a_copy_cached_before_unchanged_since_existed_still_reads(upstream_mock, settings):
    settings.LEADPING_CACHE_LIVE_SECONDS = 5
    upstream_mock.get(url(LIVE), json=body(LIVE, "Pending"))
    services.lookup_event(event_id=LIVE)
    entry = services._cached(LIVE)
    old = services._Entry(detail=entry.detail, fetched_at=entry.fetched_at, fresh_until=0)
    del old.__dict__["unchanged_since"]  # as unpickled from the earlier release
    cache.set(upstream.key("event", LIVE), old, version=upstream.CACHE_VERSION)
    cache.delete(upstream.key("fresh", LIVE), version=upstream.CACHE_VERSION)
    snapshot = services.lookup_event(event_id=LIVE)
    assert not snapshot.from_cache
    assert fresh_for(LIVE) == pytest.approx(5, abs=2)


def test_an_expired_copy_is_fetched_again(upstream_mock):
    upstream_mock.get(url(LIVE), json=body(LIVE, "Pending"))
    services.lookup_event(event_id=LIVE)
    expire(LIVE)
    snapshot = services.lookup_event(event_id=LIVE)
    assert len(upstream_mock.calls) == 2
    assert not snapshot.from_cache


def age(event_id: str, seconds: float) -> None:
    """Make the cached copy of an event `seconds` older, still fresh."""
    entry = services._cached(event_id)
    older = dataclasses.replace(entry, fetched_at=entry.fetched_at - timedelta(seconds=seconds))
    cache.set(upstream.key("event", event_id), older, version=upstream.CACHE_VERSION)


def test_check_again_has_leadping_asked_anew_once_the_copy_is_old_enough(upstream_mock):
    upstream_mock.get(url(FINAL), json=body(FINAL, "Completed"))
    services.lookup_event(event_id=FINAL)
    # Just fetched: not yet. Many staff pressing the link at once cost LeadPing nothing.
    wait = services.check_again(event_id=FINAL)
    assert 0 < wait <= services.CHECK_AGAIN_SECONDS
    assert services.lookup_event(event_id=FINAL).from_cache
    assert len(upstream_mock.calls) == 1

    age(FINAL, services.CHECK_AGAIN_SECONDS + 1)
    upstream_mock.replace(responses.GET, url(FINAL), json=body(FINAL, "Failed"))
    assert services.check_again(event_id=FINAL) == 0
    again = services.lookup_event(event_id=FINAL)
    assert not again.from_cache
    assert again.detail.status == "Failed"
    assert len(upstream_mock.calls) == 2
    assert services.lookup_event(event_id=FINAL).from_cache  # and cached again


def test_check_again_is_as_urgent_as_a_first_lookup_when_the_budget_runs_low(
    upstream_mock, settings
):
    """Refreshes of watched events took every token as it came, and the refresh staff asked
    for, which must leave the reserve too, never got its call."""
    upstream_mock.get(url(FINAL), json=body(FINAL, "Completed"))
    services.lookup_event(event_id=FINAL)
    age(FINAL, services.CHECK_AGAIN_SECONDS + 1)
    settings.LEADPING_BUDGET_CALLS, settings.LEADPING_BUDGET_SECONDS = 5, 3600
    settings.LEADPING_BUDGET_BURST, settings.LEADPING_BUDGET_RESERVE = 4, 2
    upstream.reset_budget()
    for _ in range(2):
        upstream.take_budget_token()  # two left: a refresh would have to leave both
    assert services.check_again(event_id=FINAL) == 0
    assert not services.lookup_event(event_id=FINAL).from_cache
    assert len(upstream_mock.calls) == 2


def _check_again_as_leadping_fails(upstream_mock) -> services.EventSnapshot:
    """A final event looked up, its copy made old enough, LeadPing failing, and checked
    again: the first lookup's snapshot."""
    upstream_mock.get(url(FINAL), json=body(FINAL, "Completed"))
    first = services.lookup_event(event_id=FINAL)
    age(FINAL, services.CHECK_AGAIN_SECONDS + 1)
    upstream_mock.replace(responses.GET, url(FINAL), status=500)
    assert services.check_again(event_id=FINAL) == 0
    return first


def test_check_again_keeps_the_copy_to_serve_if_leadping_fails(upstream_mock):
    first = _check_again_as_leadping_fails(upstream_mock)
    snapshot = services.lookup_event(event_id=FINAL)
    assert snapshot.stale_reason
    assert snapshot.detail == first.detail


def test_check_again_while_leadping_fails_asks_once_per_interval_not_per_press(upstream_mock):
    first = _check_again_as_leadping_fails(upstream_mock)
    assert services.lookup_event(event_id=FINAL).stale_reason
    calls = len(upstream_mock.calls)
    # The copy is as old as it was, but the desk asked a moment ago: not again yet.
    for _ in range(5):
        assert 0 < services.check_again(event_id=FINAL) <= services.CHECK_AGAIN_SECONDS
        snapshot = services.lookup_event(event_id=FINAL)
        assert snapshot.detail == first.detail
    assert len(upstream_mock.calls) == calls


def test_a_final_events_copy_is_held_for_the_check_again_interval_after_a_failure(
    upstream_mock, settings
):
    settings.LEADPING_CACHE_LIVE_SECONDS = 2
    upstream_mock.get(url(FINAL), json=body(FINAL, "Completed"))
    services.lookup_event(event_id=FINAL)
    expire(FINAL)
    upstream_mock.replace(responses.GET, url(FINAL), status=500)
    services.lookup_event(event_id=FINAL)
    held = services._cached(FINAL)
    assert held.stale_reason
    assert held.fresh_until - time.time() == pytest.approx(services.CHECK_AGAIN_SECONDS, abs=2)


@pytest.mark.parametrize("failure", [{"status": 503}, {"status": 500}, {"body": "not json"}])
def test_an_event_without_a_copy_that_fails_is_asked_once_per_interval_not_per_view(
    upstream_mock, settings, failure
):
    # Ten viewers reloading a never-seen event whose LeadPing answer fails: each view took
    # the lock anew and called (503 with its retries), 134 calls in 40 s in a probe.
    settings.LEADPING_CACHE_LIVE_SECONDS = 5
    upstream_mock.get(url(LIVE), **failure)
    for _ in range(6):
        with pytest.raises(leadping.LeadPingError) as failed:
            services.lookup_event(event_id=LIVE)
        assert failed.value.message
    calls = len(upstream_mock.calls)
    assert 1 <= calls <= 3  # the first view's call and its retries only
    # Once LeadPing answers and the interval is over, the event is shown.
    cache.delete(upstream.key("failure", LIVE), version=upstream.CACHE_VERSION)
    upstream_mock.replace(responses.GET, url(LIVE), json=body(LIVE, "InProgress"))
    assert services.lookup_event(event_id=LIVE).detail.status == "InProgress"


@pytest.mark.parametrize(
    ("intervals_old", "said"),
    [(0, None), (3, "The desk is asking LeadPing for a newer copy right now.")],
)
def test_a_copy_is_shown_at_once_while_another_caller_refreshes_it(
    upstream_mock, settings, intervals_old, said
):
    """A slow LeadPing kept every viewer of an old copy waiting for the call under way, ran
    the waiting slots out and left health checks no free thread."""
    upstream_mock.get(url(LIVE), json=body(LIVE, "InProgress"))
    first = services.lookup_event(event_id=LIVE)
    expire(LIVE, age=intervals_old * settings.LEADPING_CACHE_LIVE_SECONDS)
    # Another caller holds the lock (its call to a slow LeadPing under way).
    token = upstream.acquire_lock(LIVE, ttl=10)
    waiting = mock.patch.object(services, "_wait_for_other_caller", side_effect=AssertionError)
    with waiting:
        snapshot = services.lookup_event(event_id=LIVE)
    upstream.release_lock(LIVE, token)
    assert snapshot.detail == first.detail
    assert (
        snapshot.stale_reason and said in snapshot.stale_reason
    ) or snapshot.stale_reason is said
    assert len(upstream_mock.calls) == 1


def test_check_again_of_an_event_the_desk_has_no_copy_of_does_nothing(upstream_mock):
    assert services.check_again(event_id="evt-never-seen") == 0
    assert len(upstream_mock.calls) == 0
    with pytest.raises(InvalidEventId):
        services.check_again(event_id="not an id")


def test_a_missing_event_is_remembered_briefly(upstream_mock):
    upstream_mock.get(url("evt-gone"), status=404)
    for _ in range(3):
        with pytest.raises(leadping.EventNotFound):
            services.lookup_event(event_id="evt-gone")
    assert len(upstream_mock.calls) == 1


def test_the_snapshot_version_changes_with_the_data_and_staleness():
    detail = services.EventSnapshot(
        detail=parse_event_detail(body(LIVE), requested_id=LIVE),
        fetched_at=services.timezone.now(),
    )
    other = services.EventSnapshot(
        detail=parse_event_detail(body(LIVE, "Failed"), requested_id=LIVE),
        fetched_at=detail.fetched_at,
    )
    stale = services.EventSnapshot(
        detail=detail.detail, fetched_at=detail.fetched_at, stale_reason="down"
    )
    assert detail.version != other.version
    assert detail.version != stale.version


def test_the_snapshot_version_changes_with_the_reason_it_is_stale():
    """A poll whose stale copy now fails for another reason must redraw the panel's note."""
    detail = parse_event_detail(body(LIVE), requested_id=LIVE)
    at = services.timezone.now()
    server_error = services.EventSnapshot(
        detail=detail, fetched_at=at, stale_reason="LeadPing answered with an error (HTTP 500)."
    )
    rate_limited = services.EventSnapshot(
        detail=detail, fetched_at=at, stale_reason="LeadPing's rate limit is used up."
    )
    assert server_error.version != rate_limited.version


# --- single-flight ------------------------------------------------------------------------


def test_concurrent_lookups_of_one_event_make_one_upstream_call(upstream_mock):
    def slow_answer(request):
        time.sleep(0.5)
        return 200, {}, json.dumps(body(LIVE, "InProgress"))

    upstream_mock.add_callback(responses.GET, url(LIVE), callback=slow_answer)
    results, errors = [], []
    start_together = threading.Barrier(12)

    def look():
        start_together.wait()
        try:
            results.append(services.lookup_event(event_id=LIVE))
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=look) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 12
    assert len(upstream_mock.calls) == 1
    assert {r.detail.id for r in results} == {LIVE}
    assert upstream.read_counters()["coalesced_waits"] >= 1


def test_waiting_callers_share_the_failure_instead_of_calling_again(upstream_mock):
    def failing(request):
        time.sleep(0.3)
        return 500, {}, "boom"

    upstream_mock.add_callback(responses.GET, url(LIVE), callback=failing)
    errors = []

    def look():
        try:
            services.lookup_event(event_id=LIVE)
        except leadping.LeadPingError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=look) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(upstream_mock.calls) == 1
    assert len(errors) == 6
    assert all(isinstance(e, leadping.UpstreamUnavailable) for e in errors)


def test_a_caller_that_gets_the_lock_after_another_stored_the_answer_makes_no_call(
    upstream_mock, monkeypatch
):
    """On local memory the look and the lock are two steps; on Redis one script does both."""
    upstream_mock.get(url(FINAL), json=body(FINAL))
    take_lock = upstream.acquire_lock

    def lock_taken_just_after_another_caller_finished(name, **kwargs):
        services._store(FINAL, parse_event_detail(body(FINAL), requested_id=FINAL), previous=None)
        return take_lock(name, **kwargs)

    monkeypatch.setattr(upstream, "acquire_lock", lock_taken_just_after_another_caller_finished)
    if upstream._redis() is not None:
        services._store(FINAL, parse_event_detail(body(FINAL), requested_id=FINAL), previous=None)
    snapshot = services.lookup_event(event_id=FINAL)
    assert len(upstream_mock.calls) == 0
    assert snapshot.from_cache
    assert not upstream.lock_held(FINAL)
    assert upstream.read_counters()["cache_hits"] == 1


def test_an_answer_the_desk_cannot_read_is_fetched_anew(upstream_mock):
    """Left by another release of the desk, or damaged: a page, not a 500 or a wait."""
    upstream_mock.get(url(FINAL), json=body(FINAL))
    client = upstream._redis()
    if client is not None:

        def redis_key(kind):
            return cache.make_key(upstream.key(kind, FINAL), version=upstream.CACHE_VERSION)

        client.set(redis_key("event"), b"\x80\x05not a pickle")
        client.set(redis_key("fresh"), 1, px=60_000)
    else:
        cache.set(
            upstream.key("event", FINAL), {"not": "an answer"}, version=upstream.CACHE_VERSION
        )
    snapshot = services.lookup_event(event_id=FINAL)
    assert len(upstream_mock.calls) == 1
    assert snapshot.detail.id == FINAL
    assert not snapshot.from_cache


def test_a_lock_is_released_only_by_its_owner():
    token = upstream.acquire_lock("evt-x", ttl=5)
    assert token is not None
    assert upstream.acquire_lock("evt-x", ttl=5) is None
    upstream.release_lock("evt-x", token + 1)
    assert upstream.lock_held("evt-x")
    upstream.release_lock("evt-x", token)
    assert not upstream.lock_held("evt-x")


def test_an_answer_for_another_event_mid_watch_keeps_the_events_own_copy(upstream_mock):
    upstream_mock.get(url(LIVE), json=body(LIVE, "Pending"))
    first = services.lookup_event(event_id=LIVE)
    expire(LIVE)
    upstream_mock.replace(responses.GET, url(LIVE), json=body("someone-else", "Completed"))
    snapshot = services.lookup_event(event_id=LIVE)
    assert snapshot.detail == first.detail
    assert snapshot.stale_reason == "LeadPing answered with another event's details."
    assert not snapshot.is_final
    # Held for a refresh interval, as after any failure, rather than asked again per view.
    assert services.lookup_event(event_id=LIVE).stale_reason == snapshot.stale_reason
    assert len(upstream_mock.calls) == 2


def test_an_answer_for_another_event_is_shown_but_never_final(upstream_mock, settings):
    upstream_mock.get(url(LIVE), json=body("someone-else", "Completed"))
    snapshot = services.lookup_event(event_id=LIVE)
    assert snapshot.detail.id == "someone-else"
    assert not snapshot.is_final
    assert services._cached(LIVE).fresh_until - time.time() <= (
        settings.LEADPING_CACHE_LIVE_SECONDS
    )


# --- budget -------------------------------------------------------------------------------


def test_the_budget_refuses_calls_once_spent_and_makes_none(upstream_mock, settings):
    settings.LEADPING_BUDGET_CALLS = 3
    settings.LEADPING_BUDGET_BURST = 3
    for number in range(4):
        upstream_mock.get(url(f"evt-{number}"), json=body(f"evt-{number}"))
    for number in range(3):
        services.lookup_event(event_id=f"evt-{number}")
    with pytest.raises(services.BudgetExhausted) as caught:
        services.lookup_event(event_id="evt-3")
    assert caught.value.retry_after > 0
    assert len(upstream_mock.calls) == 3
    assert upstream.read_counters()["budget_refusals"] == 1


def test_a_first_lookup_refused_by_the_budget_is_called_as_soon_as_it_refills(
    upstream_mock, settings
):
    """The refusal was remembered as the event's failure for a refresh interval, so that
    a first lookup lost the tokens that came meanwhile to refreshes."""
    settings.LEADPING_BUDGET_CALLS = settings.LEADPING_BUDGET_BURST = 1
    upstream_mock.get(url("evt-new"), json=body("evt-new"))
    upstream.take_budget_token()
    with pytest.raises(services.BudgetExhausted):
        services.lookup_event(event_id="evt-new")
    upstream.reset_budget()
    assert services.lookup_event(event_id="evt-new").detail.id == "evt-new"
    assert len(upstream_mock.calls) == 1


local_bucket_only = pytest.mark.skipif(
    bool(os.environ.get("REDIS_URL")),
    reason="drives the in-process clock; on Redis the bucket runs on Redis's clock",
)


@local_bucket_only
def test_the_budget_refills_over_time(monkeypatch, settings):
    settings.LEADPING_BUDGET_CALLS = 62
    settings.LEADPING_BUDGET_BURST = 2
    settings.LEADPING_BUDGET_SECONDS = 60  # refills one call a second
    clock = [1000.0]
    monkeypatch.setattr(upstream.time, "monotonic", lambda: clock[0])
    assert upstream.take_budget_token() == 0
    assert upstream.take_budget_token() == 0
    assert upstream.take_budget_token() == pytest.approx(1.0)
    clock[0] += 1.0
    assert upstream.take_budget_token() == 0
    clock[0] += 100
    assert [upstream.take_budget_token() for _ in range(3)][:2] == [0, 0]


@local_bucket_only
def test_no_window_of_the_period_sees_more_than_the_budget(monkeypatch, settings):
    settings.LEADPING_BUDGET_CALLS = 240
    settings.LEADPING_BUDGET_BURST = 20
    settings.LEADPING_BUDGET_SECONDS = 60
    clock = [0.0]
    monkeypatch.setattr(upstream.time, "monotonic", lambda: clock[0])
    granted = []
    while clock[0] < 180:
        if upstream.take_budget_token() == 0:
            granted.append(clock[0])
        clock[0] += 0.05
    worst = max(sum(1 for t in granted if start <= t < start + 60) for start in granted)
    assert worst <= 240


def test_refreshes_leave_the_reserve_to_first_lookups(settings):
    # One call an hour refills: the bucket is what the burst left, on either clock.
    settings.LEADPING_BUDGET_CALLS, settings.LEADPING_BUDGET_SECONDS = 9, 3600
    settings.LEADPING_BUDGET_BURST, settings.LEADPING_BUDGET_RESERVE = 8, 2
    upstream.reset_budget()
    refreshes = [upstream.spend_call(refresh=True)[0] for _ in range(8)]
    assert refreshes == ["ok"] * 6 + ["budget"] * 2
    assert [upstream.spend_call()[0] for _ in range(3)] == ["ok", "ok", "budget"]


def test_the_reserve_never_takes_the_whole_bucket(settings):
    settings.LEADPING_BUDGET_CALLS, settings.LEADPING_BUDGET_SECONDS = 3, 3600
    settings.LEADPING_BUDGET_BURST, settings.LEADPING_BUDGET_RESERVE = 2, 50
    upstream.reset_budget()
    assert upstream.spend_call(refresh=True)[0] == "ok"
    assert upstream.spend_call(refresh=True)[0] == "budget"
    assert upstream.spend_call()[0] == "ok"


def test_when_the_budget_runs_low_a_first_lookup_goes_before_a_refresh(upstream_mock, settings):
    """60 new events looked up at once waited up to 67 s behind refreshes of events already
    on screen, which had a copy to show meanwhile."""
    upstream_mock.get(url(LIVE), json=body(LIVE, "Pending"))
    upstream_mock.get(url("evt-new"), json=body("evt-new", "Pending"))
    services.lookup_event(event_id=LIVE)
    expire(LIVE, age=3 * settings.LEADPING_CACHE_LIVE_SECONDS)
    settings.LEADPING_BUDGET_CALLS, settings.LEADPING_BUDGET_SECONDS = 5, 3600
    settings.LEADPING_BUDGET_BURST, settings.LEADPING_BUDGET_RESERVE = 4, 1
    upstream.reset_budget()
    for _ in range(3):
        upstream.take_budget_token()
    refreshed = services.lookup_event(event_id=LIVE)
    assert "pacing" in refreshed.stale_reason
    first = services.lookup_event(event_id="evt-new")
    assert first.detail.id == "evt-new"
    assert not first.from_cache
    assert [call.request.url for call in upstream_mock.calls] == [url(LIVE), url("evt-new")]


def test_a_copy_a_few_intervals_old_is_served_without_a_pacing_note(upstream_mock, settings):
    """With many events watched the budget refuses one refresh in two: the note came and
    went on every other poll, and each time the details were fetched again."""
    upstream_mock.get(url(LIVE), json=body(LIVE, "Pending"))
    first = services.lookup_event(event_id=LIVE)
    expire(LIVE, age=settings.LEADPING_CACHE_LIVE_SECONDS)
    settings.LEADPING_BUDGET_CALLS = settings.LEADPING_BUDGET_BURST = 1
    upstream.reset_budget()
    upstream.take_budget_token()
    snapshot = services.lookup_event(event_id=LIVE)
    assert snapshot.from_cache
    assert snapshot.stale_reason is None
    assert snapshot.version == first.version
    assert len(upstream_mock.calls) == 1


def test_a_refresh_the_budget_refused_is_not_asked_again_by_every_poll(upstream_mock, settings):
    """With the budget full, each poll of a much-watched event asked again, and the events
    with the most viewers took the tokens as they came (8.7 refreshes against 4.6)."""
    upstream_mock.get(url(LIVE), json=body(LIVE, "Pending"))
    services.lookup_event(event_id=LIVE)
    expire(LIVE)
    settings.LEADPING_BUDGET_CALLS = settings.LEADPING_BUDGET_BURST = 1
    upstream.reset_budget()
    upstream.take_budget_token()
    assert services.lookup_event(event_id=LIVE).stale_reason is None
    refusals = upstream.read_counters()["budget_refusals"]
    upstream.reset_budget()  # a token came: another event's poll takes it, not this one's
    assert services.lookup_event(event_id=LIVE).from_cache
    assert upstream.read_counters()["budget_refusals"] == refusals
    assert len(upstream_mock.calls) == 1


def test_a_stale_reason_changes_the_version_but_not_its_answer_part(upstream_mock):
    upstream_mock.get(url(LIVE), json=body(LIVE, "Pending"))
    fresh = services.lookup_event(event_id=LIVE)
    stale = dataclasses.replace(fresh, stale_reason="LeadPing answered with an error.")
    assert stale.version != fresh.version
    assert stale.version.split("-")[0] == fresh.version == fresh.data_version


def test_a_burst_over_half_the_budget_is_warned_about(settings):
    from events.checks import leadping_settings

    settings.LEADPING_BUDGET_CALLS = settings.LEADPING_BUDGET_BURST = 20
    assert "events.W002" in [problem.id for problem in leadping_settings(None)]
    settings.LEADPING_BUDGET_BURST = 2
    assert "events.W002" not in [problem.id for problem in leadping_settings(None)]


def test_a_stale_copy_is_served_when_the_budget_is_spent(upstream_mock, settings):
    upstream_mock.get(url(LIVE), json=body(LIVE, "Pending"))
    services.lookup_event(event_id=LIVE)
    expire(LIVE, age=3 * settings.LEADPING_CACHE_LIVE_SECONDS)
    settings.LEADPING_BUDGET_CALLS = 1
    settings.LEADPING_BUDGET_BURST = 1
    upstream.reset_budget()
    upstream.take_budget_token()
    snapshot = services.lookup_event(event_id=LIVE)
    assert snapshot.stale_reason
    assert "pacing" in snapshot.stale_reason
    assert len(upstream_mock.calls) == 1


# --- a LeadPing that fails every call ------------------------------------------------------


def _fail_lookups(upstream_mock, count: int, *, status: int = 500) -> None:
    for number in range(count):
        upstream_mock.get(url(f"evt-down-{number}"), status=status)
        with pytest.raises(leadping.UpstreamUnavailable):
            services.lookup_event(event_id=f"evt-down-{number}")


def test_after_many_failed_calls_in_a_row_every_call_pauses(upstream_mock):
    """During 500s and 503s the desk went on calling at the budget's pace, 3.7 calls a second."""
    _fail_lookups(upstream_mock, services.FAILURES_BEFORE_PAUSE)
    calls = len(upstream_mock.calls)
    upstream_mock.get(url("evt-next"), json=body("evt-next"))
    with pytest.raises(services.UpstreamPaused) as caught:
        services.lookup_event(event_id="evt-next")
    assert len(upstream_mock.calls) == calls
    assert 0 < caught.value.retry_after <= 2
    assert "paused its calls" in caught.value.message
    assert upstream.read_counters()["pause_refusals"] == 1


def test_a_retry_the_budget_refuses_ends_with_leadpings_failure_and_counts(upstream_mock, settings):
    """With the budget full, the retry of a 503 was refused and the lookup ended as the
    desk's pacing: no failure was counted, and calls never paused however long LeadPing
    failed."""
    settings.LEADPING_BUDGET_CALLS = settings.LEADPING_BUDGET_BURST = 1
    upstream_mock.get(url("evt-down"), status=503)
    with pytest.raises(leadping.UpstreamUnavailable) as caught:
        services.lookup_event(event_id="evt-down")
    assert not isinstance(caught.value, leadping.RateLimited)
    assert len(upstream_mock.calls) == 1
    assert cache.get(upstream.key("failures-in-a-row"), version=upstream.CACHE_VERSION) == 1


def test_each_failed_call_counts_retries_included(upstream_mock, settings):
    upstream_mock.get(url("evt-down"), status=503)
    with pytest.raises(leadping.UpstreamUnavailable):
        services.lookup_event(event_id="evt-down")
    calls = len(upstream_mock.calls)
    assert calls == 1 + settings.LEADPING_MAX_RETRIES
    assert cache.get(upstream.key("failures-in-a-row"), version=upstream.CACHE_VERSION) == calls


def test_answers_the_desk_cannot_read_do_not_pause_calls_for_other_events(upstream_mock):
    # One malformed event polled for ten intervals paused every lookup.
    for number in range(services.FAILURES_BEFORE_PAUSE + 2):
        upstream_mock.get(url(f"evt-bad-{number}"), body=b'{"id": "x"} trailing')
        with pytest.raises(leadping.BadPayload):
            services.lookup_event(event_id=f"evt-bad-{number}")
    upstream_mock.get(url("evt-fine"), json=body("evt-fine"))
    assert services.lookup_event(event_id="evt-fine").detail.id == "evt-fine"


def test_a_call_leadping_answers_starts_the_count_again(upstream_mock):
    _fail_lookups(upstream_mock, services.FAILURES_BEFORE_PAUSE - 1)
    upstream_mock.get(url("evt-fine"), json=body("evt-fine"))
    services.lookup_event(event_id="evt-fine")
    _fail_lookups(upstream_mock, services.FAILURES_BEFORE_PAUSE - 1)
    upstream_mock.get(url("evt-next"), json=body("evt-next"))
    assert services.lookup_event(event_id="evt-next").detail.id == "evt-next"


def test_while_calls_pause_a_watched_event_shows_its_copy_and_why(upstream_mock, settings):
    upstream_mock.get(url(LIVE), json=body(LIVE, "Pending"))
    services.lookup_event(event_id=LIVE)
    expire(LIVE, age=3 * settings.LEADPING_CACHE_LIVE_SECONDS)
    _fail_lookups(upstream_mock, services.FAILURES_BEFORE_PAUSE)
    snapshot = services.lookup_event(event_id=LIVE)
    assert snapshot.from_cache
    assert snapshot.stale_reason == services.UpstreamPaused.message


# --- 429 and Retry-After ------------------------------------------------------------------


def test_retry_after_stops_every_caller_until_it_has_passed(upstream_mock):
    upstream_mock.get(url("evt-a"), status=429, headers={"Retry-After": "17"})
    upstream_mock.get(url("evt-b"), json=body("evt-b"))
    with pytest.raises(leadping.RateLimited) as first:
        services.lookup_event(event_id="evt-a")
    with pytest.raises(leadping.RateLimited) as caught:
        services.lookup_event(event_id="evt-b")
    assert len(upstream_mock.calls) == 1
    assert 15 < caught.value.retry_after <= 17
    assert upstream.read_counters()["retry_after_refusals"] == 1
    # One wording for the whole block: a watched event's stale note alternated between the
    # 429's and the refusals', and each change redrew its panel.
    assert caught.value.message == first.value.message


def test_retry_after_is_shared_through_the_cache(upstream_mock):
    upstream.block_upstream(30)
    assert 28 < upstream.blocked_for() <= 30
    verdict, seconds = upstream.spend_call()
    assert verdict == "blocked"
    assert 28 < seconds <= 30


def test_a_429_without_retry_after_backs_off_exponentially_with_jitter(settings):
    settings.LEADPING_BACKOFF_MAX_SECONDS = 60
    waits = [upstream.block_upstream(None) for _ in range(8)]
    assert 0.5 <= waits[0] <= 2
    assert waits[-1] <= 60
    assert waits[-1] >= 30
    upstream.clear_backoff()
    assert upstream.block_upstream(None) <= 2


# --- retries ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_gateway_error_is_retried_and_can_succeed(upstream_mock, status):
    upstream_mock.get(url(FINAL), status=status)
    upstream_mock.get(url(FINAL), json=body(FINAL))
    snapshot = services.lookup_event(event_id=FINAL)
    assert snapshot.detail.id == FINAL
    assert len(upstream_mock.calls) == 2
    assert upstream.read_counters()["upstream_retries"] == 1


def test_connection_errors_are_retried_a_bounded_number_of_times(upstream_mock, settings):
    settings.LEADPING_MAX_RETRIES = 2
    upstream_mock.get(url(FINAL), body=requests.ConnectionError("refused"))
    with pytest.raises(leadping.UpstreamUnavailable):
        services.lookup_event(event_id=FINAL)
    assert len(upstream_mock.calls) == 3


def test_a_connect_timeout_is_retried_but_a_read_timeout_is_not(upstream_mock, settings):
    settings.LEADPING_MAX_RETRIES = 2
    upstream_mock.get(url(FINAL), body=requests.ConnectTimeout())
    with pytest.raises(leadping.UpstreamUnavailable):
        services.lookup_event(event_id=FINAL)
    assert len(upstream_mock.calls) == 3
    # LeadPing took the request and is slow: a second try would double its load.
    upstream_mock.get(url(LIVE), body=requests.ReadTimeout())
    with pytest.raises(leadping.UpstreamUnavailable):
        services.lookup_event(event_id=LIVE)
    assert len(upstream_mock.calls) == 4


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500])
def test_client_errors_and_500_are_never_retried(upstream_mock, status):
    upstream_mock.get(url(FINAL), status=status)
    with pytest.raises(leadping.LeadPingError):
        services.lookup_event(event_id=FINAL)
    assert len(upstream_mock.calls) == 1


def test_retries_stop_at_the_request_deadline(upstream_mock, settings, monkeypatch):
    settings.LEADPING_REQUEST_DEADLINE = 1
    monkeypatch.setattr(services, "_retry_pause", lambda attempt: 5.0)
    upstream_mock.get(url(FINAL), status=503)
    with pytest.raises(leadping.UpstreamUnavailable):
        services.lookup_event(event_id=FINAL)
    assert len(upstream_mock.calls) == 1


# --- stale-if-error -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500},
        {"body": requests.ConnectTimeout()},
        {"status": 200, "body": "<html>proxy</html>"},
        {"status": 429, "headers": {"Retry-After": "5"}},
    ],
)
def test_the_last_good_copy_is_served_with_its_reason_when_upstream_fails(upstream_mock, failure):
    upstream_mock.get(url(LIVE), json=body(LIVE, "InProgress"))
    first = services.lookup_event(event_id=LIVE)
    expire(LIVE)
    upstream_mock.replace(responses.GET, url(LIVE), **failure)
    snapshot = services.lookup_event(event_id=LIVE)
    assert snapshot.stale_reason
    assert snapshot.from_cache
    assert snapshot.fetched_at == first.fetched_at
    assert snapshot.detail == first.detail
    assert upstream.read_counters()["stale_served"] == 1


@pytest.mark.parametrize("failure", [{"status": 500}, {"status": 503}, {"body": "not json"}])
def test_after_a_failure_the_stale_copy_is_held_for_a_refresh_interval(
    upstream_mock, settings, failure
):
    """Each viewer's poll must not call a failing LeadPing again: one call (and its retries)
    per refresh interval, as when it answers."""
    settings.LEADPING_CACHE_LIVE_SECONDS = 5
    upstream_mock.get(url(LIVE), json=body(LIVE, "InProgress"))
    first = services.lookup_event(event_id=LIVE)
    expire(LIVE)
    upstream_mock.replace(responses.GET, url(LIVE), **failure)
    failed = services.lookup_event(event_id=LIVE)
    calls = len(upstream_mock.calls)
    later = [services.lookup_event(event_id=LIVE) for _ in range(5)]
    assert len(upstream_mock.calls) == calls
    for snapshot in (failed, *later):
        assert snapshot.stale_reason == failed.stale_reason
        assert snapshot.fetched_at == first.fetched_at
        assert snapshot.detail == first.detail
    assert len({snapshot.version for snapshot in (failed, *later)}) == 1
    # One refresh interval later LeadPing is asked again, and its answer replaces the copy.
    expire(LIVE)
    upstream_mock.replace(responses.GET, url(LIVE), json=body(LIVE, "Completed"))
    recovered = services.lookup_event(event_id=LIVE)
    assert recovered.stale_reason is None
    assert recovered.detail.status == "Completed"


def test_a_copy_past_the_stale_limit_is_not_held_again_and_again(upstream_mock, settings):
    # Holding must not keep a copy alive past LEADPING_STALE_SECONDS while LeadPing fails.
    settings.LEADPING_CACHE_LIVE_SECONDS = 5
    settings.LEADPING_STALE_SECONDS = 0
    upstream_mock.get(url(LIVE), json=body(LIVE, "InProgress"))
    services.lookup_event(event_id=LIVE)
    expire(LIVE)
    upstream_mock.replace(responses.GET, url(LIVE), status=500)
    services.lookup_event(event_id=LIVE)
    assert services._cached(LIVE).stale_reason is None  # not stored again as held
    calls = len(upstream_mock.calls)
    # The failure itself is remembered for a refresh interval, then LeadPing is asked again.
    cache.delete(upstream.key("failure", LIVE), version=upstream.CACHE_VERSION)
    services.lookup_event(event_id=LIVE)
    assert len(upstream_mock.calls) == calls + 1


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_asked_again_once_per_refresh_interval_not_per_poll(
    upstream_mock, settings, status
):
    settings.LEADPING_CACHE_LIVE_SECONDS = 5
    upstream_mock.get(url(LIVE), status=status)
    upstream_mock.get(url(FINAL), json=body(FINAL))
    for _ in range(4):
        with pytest.raises(leadping.NotAuthorised) as refused:
            services.lookup_event(event_id=LIVE)
        assert str(status) in refused.value.message
    assert len(upstream_mock.calls) == 1
    # Only that event: another one is still asked.
    assert services.lookup_event(event_id=FINAL).detail.id == FINAL
    # One refresh interval later LeadPing is asked again.
    _, error = services._refusals._until[LIVE]
    services._refusals._until[LIVE] = (time.monotonic() - 1, error)
    cache.delete(upstream.key("failure", LIVE), version=upstream.CACHE_VERSION)
    with pytest.raises(leadping.NotAuthorised):
        services.lookup_event(event_id=LIVE)
    assert len(upstream_mock.calls) == 3


def test_a_refused_key_is_never_hidden_behind_a_stale_copy(upstream_mock):
    upstream_mock.get(url(LIVE), json=body(LIVE, "InProgress"))
    services.lookup_event(event_id=LIVE)
    expire(LIVE)
    upstream_mock.replace(responses.GET, url(LIVE), status=401)
    with pytest.raises(leadping.NotAuthorised):
        services.lookup_event(event_id=LIVE)


def test_an_invalid_id_is_refused_before_the_cache_or_upstream(upstream_mock):
    with pytest.raises(InvalidEventId):
        services.lookup_event(event_id="../x")
    assert len(upstream_mock.calls) == 0


# --- how many requests may wait on LeadPing ----------------------------------------------


def _blocking_upstream(upstream_mock, event_id):
    """LeadPing holds its answer for `event_id` until the returned event is set."""
    release = threading.Event()
    entered = threading.Event()

    def answer(request):
        entered.set()
        release.wait(5)
        return 200, {}, json.dumps(body(event_id, "InProgress"))

    upstream_mock.add_callback(responses.GET, url(event_id), callback=answer)
    return entered, release


def _look_in_thread(event_id):
    outcome = {}

    def look():
        try:
            outcome["snapshot"] = services.lookup_event(event_id=event_id)
        except leadping.LeadPingError as error:
            outcome["error"] = error

    thread = threading.Thread(target=look)
    thread.start()
    return thread, outcome


@contextmanager
def _while_live_is_fetched(upstream_mock) -> Iterator[dict]:
    """LIVE looked up in a thread whose LeadPing call hangs until the block ends; yields
    what that lookup ends with (filled in once the block has let it finish)."""
    entered, release = _blocking_upstream(upstream_mock, LIVE)
    thread, outcome = _look_in_thread(LIVE)
    assert entered.wait(5)
    try:
        yield outcome
    finally:
        release.set()
        thread.join(5)


def test_past_the_waiting_limit_a_lookup_is_told_the_desk_is_busy(upstream_mock, settings):
    settings.LEADPING_MAX_WAITING = 1
    upstream_mock.get(url(FINAL), json=body(FINAL))
    with _while_live_is_fetched(upstream_mock) as outcome, pytest.raises(services.DeskBusy):
        services.lookup_event(event_id=FINAL)
    assert outcome["snapshot"].detail.id == LIVE
    assert [call.request.url for call in upstream_mock.calls] == [url(LIVE)]
    assert upstream.read_counters()["busy_refusals"] == 1
    # Its lock was let go: once a slot is free, the event is fetched.
    assert services.lookup_event(event_id=FINAL).detail.id == FINAL


def test_past_the_waiting_limit_the_last_copy_is_served_at_once_with_the_reason(
    upstream_mock, settings
):
    upstream_mock.get(url(FINAL), json=body(FINAL, "InProgress"))
    services.lookup_event(event_id=FINAL)
    settings.LEADPING_MAX_WAITING = 1
    entered, release = _blocking_upstream(upstream_mock, LIVE)
    thread, _ = _look_in_thread(LIVE)
    assert entered.wait(5)
    try:
        with mock.patch.object(services._waiting, "take", wraps=services._waiting.take) as take:
            expire(FINAL)
            young = services.lookup_event(event_id=FINAL)
            expire(FINAL, age=3 * settings.LEADPING_CACHE_LIVE_SECONDS)
            old = services.lookup_event(event_id=FINAL)
    finally:
        release.set()
        thread.join(5)
    # Never waiting for a slot: a copy is there to show (health checks need the threads).
    assert [c.kwargs["within"] for c in take.call_args_list] == [0, 0]
    assert young.from_cache and young.stale_reason is None
    assert old.from_cache and old.stale_reason == services.DeskBusy.message
    assert len([c for c in upstream_mock.calls if c.request.url == url(FINAL)]) == 1
    # Counted as shown: the young copy went out unmarked, the old one said to be stale.
    assert upstream.read_counters()["stale_served"] == 1


def test_within_the_waiting_limit_a_lookup_with_nothing_to_show_waits_for_the_call_under_way(
    upstream_mock, settings
):
    settings.LEADPING_MAX_WAITING = 2
    entered, release = _blocking_upstream(upstream_mock, LIVE)
    first, first_outcome = _look_in_thread(LIVE)
    assert entered.wait(5)
    second, second_outcome = _look_in_thread(LIVE)
    time.sleep(0.1)
    release.set()
    first.join(5)
    second.join(5)
    assert first_outcome["snapshot"].detail.id == LIVE
    assert second_outcome["snapshot"].detail.id == LIVE
    assert len(upstream_mock.calls) == 1
    assert upstream.read_counters()["busy_refusals"] == 0


def test_past_the_waiting_limit_a_lookup_with_nothing_to_show_does_not_wait(
    upstream_mock, settings
):
    # Waiting for another request's call holds a thread as long as calling does: with a
    # hanging LeadPing and many viewers of one new event, such waits took every thread and
    # /healthz waited seconds behind them.
    settings.LEADPING_MAX_WAITING = 1
    entered, release = _blocking_upstream(upstream_mock, LIVE)
    first, first_outcome = _look_in_thread(LIVE)
    assert entered.wait(5)
    try:
        with pytest.raises(services.DeskBusy):
            services.lookup_event(event_id=LIVE)
        # Refused without joining the call under way (which is still blocked here).
        assert upstream.read_counters()["coalesced_waits"] == 0
    finally:
        release.set()
        first.join(5)
    assert first_outcome["snapshot"].detail.id == LIVE
    assert len(upstream_mock.calls) == 1
    assert upstream.read_counters()["busy_refusals"] == 1


def test_busy_says_when_the_desk_is_already_asking_about_that_event(upstream_mock, settings):
    # It said "waiting on LeadPing for many other lookups" to viewers of one slow event.
    settings.LEADPING_MAX_WAITING = 1
    upstream_mock.get(url(FINAL), json=body(FINAL))
    with _while_live_is_fetched(upstream_mock):
        with pytest.raises(services.DeskBusy) as same:
            services.lookup_event(event_id=LIVE)
        with pytest.raises(services.DeskBusy) as other:
            services.lookup_event(event_id=FINAL)
    assert same.value.message == services.DeskBusy.ALREADY_ASKING
    assert other.value.message == services.DeskBusy.message
    assert same.value.retry_after == other.value.retry_after == services.BUSY_RETRY_SECONDS


def test_only_a_few_lookups_wait_for_a_slot_at_once(upstream_mock, settings, monkeypatch):
    """Each wait holds a thread: with every slot taken and every other thread waiting half a
    second for one, /healthz queued behind them for over a second."""
    settings.LEADPING_MAX_WAITING = 1
    monkeypatch.setattr(services, "SLOT_WAIT_SECONDS", 30)
    entered, release = _blocking_upstream(upstream_mock, LIVE)
    first, _ = _look_in_thread(LIVE)
    assert entered.wait(5)
    waiting = []
    try:
        for number in range(services.MAX_SLOT_QUEUE):
            upstream_mock.get(url(f"evt-queued-{number}"), json=body(f"evt-queued-{number}"))
            waiting.append(_look_in_thread(f"evt-queued-{number}"))
        time.sleep(0.2)  # both wait for a slot
        waits = []
        wait_for = services._waiting._free.wait_for
        monkeypatch.setattr(
            services._waiting._free,
            "wait_for",
            lambda *args, **kwargs: waits.append(args) or wait_for(*args, **kwargs),
        )
        with pytest.raises(services.DeskBusy):
            services.lookup_event(event_id=FINAL)
    finally:
        release.set()
        first.join(5)
        for thread, _ in waiting:
            thread.join(5)
    # Refused without waiting its turn (30 s here), and the queued ones got their answer.
    assert waits == []
    assert all("snapshot" in outcome for _, outcome in waiting)


def test_a_lookup_without_a_free_slot_waits_for_one_a_short_while(
    upstream_mock, settings, monkeypatch
):
    """With a LeadPing answering in milliseconds, slots come free fast: 20 viewers of 20
    new events on one process got 'busy' for one page in six when refused at once."""
    settings.LEADPING_MAX_WAITING = 1
    monkeypatch.setattr(services, "SLOT_WAIT_SECONDS", 30)
    entered, release = _blocking_upstream(upstream_mock, LIVE)
    upstream_mock.get(url(FINAL), json=body(FINAL))
    first, _ = _look_in_thread(LIVE)
    assert entered.wait(5)
    second, second_outcome = _look_in_thread(FINAL)
    time.sleep(0.2)  # the second lookup finds no free slot, and waits
    release.set()
    first.join(5)
    second.join(5)
    assert second_outcome["snapshot"].detail.id == FINAL
    assert upstream.read_counters()["busy_refusals"] == 0


def test_a_cached_answer_needs_no_slot_and_does_not_wait_for_one(
    upstream_mock, settings, monkeypatch
):
    upstream_mock.get(url(FINAL), json=body(FINAL))
    services.lookup_event(event_id=FINAL)
    settings.LEADPING_MAX_WAITING = 1
    entered, release = _blocking_upstream(upstream_mock, LIVE)
    first, _ = _look_in_thread(LIVE)
    assert entered.wait(5)
    waits = []
    take = services._waiting.take
    monkeypatch.setattr(
        services._waiting, "take", lambda *, within: waits.append(within) or take(within=within)
    )
    try:
        assert services.lookup_event(event_id=FINAL).detail.id == FINAL
    finally:
        release.set()
        first.join(5)
    assert waits == [0]


def test_a_lookup_refused_for_want_of_a_slot_spends_no_budget(upstream_mock, settings):
    # A busy refusal took the event's lock and spent a call token without calling LeadPing:
    # with a slow LeadPing the budget drained into refusals and pages said "pacing its
    # calls" after a few calls.
    settings.LEADPING_MAX_WAITING = 1
    settings.LEADPING_BUDGET_CALLS = 2
    settings.LEADPING_BUDGET_BURST = 2
    entered, release = _blocking_upstream(upstream_mock, LIVE)
    upstream_mock.get(url(FINAL), json=body(FINAL))
    thread, _ = _look_in_thread(LIVE)
    assert entered.wait(5)
    try:
        for _ in range(3):
            with pytest.raises(services.DeskBusy):
                services.lookup_event(event_id=FINAL)
    finally:
        release.set()
        thread.join(5)
    assert not upstream.lock_held(FINAL)
    # The second token of the budget is still there for the call the refusals never made.
    assert services.lookup_event(event_id=FINAL).detail.id == FINAL
    assert upstream.read_counters()["budget_refusals"] == 0
