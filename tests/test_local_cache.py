"""The per-process caches: the session cache keeps a login for seconds, so other workers'
logouts apply; the answers' cache holds a bounded number of bytes."""

import time
import uuid
from unittest import mock

import pytest
from django.contrib.sessions.backends.cached_db import SessionStore
from django.contrib.sessions.models import Session

from leadping_web.local_cache import BoundedLocMemCache, ShortLivedLocMemCache


def _cache(max_timeout: float = 5) -> ShortLivedLocMemCache:
    return ShortLivedLocMemCache(
        "test-short-lived", {"OPTIONS": {"MAX_TIMEOUT": max_timeout, "MAX_ENTRIES": 10}}
    )


def test_nothing_is_kept_longer_than_the_ceiling():
    cache = _cache(5)
    with mock.patch("time.time", return_value=1000.0):
        cache.set("long", "value", timeout=1_209_600)  # a session's two weeks
        cache.set("forever", "value", timeout=None)
        cache.set("short", "value", timeout=2)
    with mock.patch("time.time", return_value=1004.0):
        assert cache.get("long") == "value"
        assert cache.get("short") is None
    with mock.patch("time.time", return_value=1005.5):
        assert cache.get("long") is None
        assert cache.get("forever") is None


def test_a_zero_timeout_still_means_do_not_keep():
    cache = _cache()
    cache.set("gone", "value", timeout=0)
    assert cache.get("gone") is None


@pytest.mark.django_db
def test_a_session_deleted_by_another_worker_stops_working_here_within_the_ceiling(settings):
    assert settings.SESSION_CACHE_ALIAS == "sessions"
    session = SessionStore()
    session["_auth_user_id"] = "1"
    session.save()
    key = session.session_key
    assert SessionStore(key).load()["_auth_user_id"] == "1"  # now cached in this process

    # Another gunicorn worker logs the session out: the row goes, this process's copy stays.
    Session.objects.filter(session_key=key).delete()
    assert SessionStore(key).load()["_auth_user_id"] == "1"

    # Once this process's copy is older than MAX_TIMEOUT, the database is read again.
    later = time.time() + 6
    with mock.patch("time.time", return_value=later):
        assert SessionStore(key).load() == {}


def _bounded(max_bytes: int, max_entries: int = 1000) -> BoundedLocMemCache:
    options = {"MAX_BYTES": max_bytes, "MAX_ENTRIES": max_entries}
    return BoundedLocMemCache(f"test-bounded-{uuid.uuid4()}", {"OPTIONS": options})


def _held_bytes(cache: BoundedLocMemCache) -> int:
    return sum(len(value) for value in cache._cache.values())


def test_big_values_push_out_the_least_recently_used_to_stay_within_the_bytes():
    cache = _bounded(max_bytes=100_000)
    for n in range(10):
        cache.set(f"answer-{n}", "x" * 20_000)
        cache.get("answer-0")  # read on every page: kept
    assert _held_bytes(cache) <= 100_000
    assert cache._cache.size == _held_bytes(cache)
    assert cache.get("answer-0") is not None
    assert cache.get("answer-9") is not None
    assert cache.get("answer-1") is None
    assert len(cache._cache) == 4


def test_the_byte_count_follows_overwrites_deletes_counters_culls_and_clear():
    cache = _bounded(max_bytes=1_000_000, max_entries=5)
    cache.set("a", "x" * 1000)
    cache.set("a", "x" * 10)  # overwritten: the old value's bytes go
    cache.set("n", 1)
    cache.incr("n", 1000)
    cache.add("lock", "owner")
    cache.delete("lock")
    assert cache._cache.size == _held_bytes(cache)
    for n in range(10):  # past MAX_ENTRIES: LocMemCache culls a third
        cache.set(f"k{n}", "y" * n)
    assert cache._cache.size == _held_bytes(cache)
    cache.clear()
    assert cache._cache.size == 0


def test_a_value_too_big_for_a_quarter_of_the_bytes_is_not_kept_nor_an_old_one():
    cache = _bounded(max_bytes=100_000)
    cache.set("answer", "small")
    cache.set("answer", "x" * 30_000)
    assert cache.get("answer") is None
    cache.set("other", "x" * 20_000)
    assert cache.get("other") is not None


def test_instances_of_one_name_share_the_store_and_its_count():
    name = f"test-bounded-{uuid.uuid4()}"
    first = BoundedLocMemCache(name, {"OPTIONS": {"MAX_BYTES": 100_000}})
    second = BoundedLocMemCache(name, {"OPTIONS": {"MAX_BYTES": 100_000}})  # another thread's
    first.set("answer", "x" * 1000)
    assert second.get("answer") == "x" * 1000
    assert second._cache is first._cache
    assert second._cache.size == _held_bytes(first)
