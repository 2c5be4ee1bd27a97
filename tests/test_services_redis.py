"""Single-flight and the call budget across processes sharing Redis (runs when REDIS_URL is set)."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from events.sandbox.server import start_in_thread

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set: cross-process tests skipped"
)

ROOT = Path(__file__).resolve().parent.parent

# Looks up the event IDs given as arguments, each from its own thread, and prints one line
# per lookup: the outcome class name.
WORKER = """
import os, sys, threading, django
django.setup()
from events import services
from events.leadping import LeadPingError
outcomes = []
def look(event_id):
    try:
        services.lookup_event(event_id=event_id)
        outcomes.append("ok")
    except LeadPingError as error:
        outcomes.append(type(error).__name__)
threads = [threading.Thread(target=look, args=(event_id,)) for event_id in sys.argv[1:]]
[t.start() for t in threads]
[t.join() for t in threads]
print("\\n".join(outcomes))
"""


@pytest.fixture
def sandbox():
    server = start_in_thread(api_key=settings.LEADPING_SANDBOX_KEY, latency_ms=300)
    yield server
    server.stop()


def run_workers(sandbox, event_lists, **env):
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "leadping_web.settings",
        "LEADPING_API_BASE_URL": sandbox.base_url,
        "LEADPING_API_KEY": settings.LEADPING_SANDBOX_KEY,
        **env,
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, *ids],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            text=True,
        )
        for ids in event_lists
    ]
    outputs = [worker.communicate(timeout=60)[0].split() for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)
    return [outcome for output in outputs for outcome in output]


def test_two_processes_make_one_upstream_call_for_one_event(sandbox):
    event_id = f"live-{uuid.uuid4().hex[:12]}"
    outcomes = run_workers(sandbox, [[event_id] * 6, [event_id] * 6])
    assert outcomes == ["ok"] * 12
    assert sandbox.stats()["by_event"] == {event_id: 1}


def test_two_processes_share_one_call_budget(sandbox):
    ids = [f"live-{uuid.uuid4().hex[:12]}" for _ in range(16)]
    outcomes = run_workers(
        sandbox,
        [ids[:8], ids[8:]],
        LEADPING_BUDGET_CALLS="5",
        LEADPING_BUDGET_BURST="5",
        LEADPING_BUDGET_SECONDS="3600",
    )
    assert sandbox.stats()["requests"] == 5
    assert outcomes.count("ok") == 5
    assert outcomes.count("BudgetExhausted") == 11


def test_retry_after_from_one_process_stops_the_other(sandbox):
    run_workers(sandbox, [["sandbox-429"]])
    calls_before = sandbox.stats()["requests"]
    outcomes = run_workers(sandbox, [[f"live-{uuid.uuid4().hex[:12]}"]])
    assert outcomes == ["RateLimited"]
    assert sandbox.stats()["requests"] == calls_before


def test_clearing_the_cache_deletes_the_desks_keys_and_no_others():
    """Django's RedisCache.clear() is FLUSHDB: the test suite's own clearing (and anything
    else calling clear()) emptied the whole Redis database, other applications' keys too."""
    import redis
    from django.core.cache import cache

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    foreign = f"someone-else:{uuid.uuid4().hex}"
    client.set(foreign, "keep", ex=60)
    cache.set("an-answer", "ours")
    cache.clear()
    assert cache.get("an-answer") is None
    assert client.get(foreign) == b"keep"
    client.delete(foreign)
