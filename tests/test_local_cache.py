"""The per-process session cache keeps a login for seconds, so other workers' logouts apply."""

import time
from unittest import mock

import pytest
from django.contrib.sessions.backends.cached_db import SessionStore
from django.contrib.sessions.models import Session

from leadping_web.local_cache import ShortLivedLocMemCache


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
