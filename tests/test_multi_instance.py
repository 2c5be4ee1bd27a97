"""Two gunicorn instances of the desk sharing PostgreSQL and Redis behave as one desk.

Runs when DATABASE_URL points at PostgreSQL and REDIS_URL is set (the PostgreSQL + Redis
variant of the suite). Both instances use a database of their own, made and migrated here,
and the Redis of REDIS_URL, which this test process shares: the autouse fixture that clears
the cache before each test therefore also refills the instances' shared call budget.
"""

import os
import re
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from django.conf import settings
from django.core.cache import cache

from events import models
from events.sandbox.server import start_in_thread
from tests.gunicorn_support import ROOT, desk_environment, free_port, start_gunicorn, stop

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")

pytestmark = pytest.mark.skipif(
    not (DATABASE_URL.startswith(("postgres://", "postgresql://")) and REDIS_URL),
    reason="needs DATABASE_URL on PostgreSQL and REDIS_URL: multi-instance tests skipped",
)

USERNAME = "ops"
PASSWORD = "multi instance passphrase 42"
METRICS_TOKEN = "multi-instance-metrics-token-0123"
BUDGET_CALLS = 5
AUDIT_MODEL = getattr(models, "LookupAudit", None)


def _database_url(name: str) -> str:
    parts = urlsplit(DATABASE_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="module")
def database():
    """A database for the two instances only, dropped afterwards; yields its URL."""
    import psycopg
    from psycopg import sql

    name = f"leadping_desk_multi_instance_{os.getpid()}"
    with psycopg.connect(_database_url("postgres"), autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield _database_url(name)
    with psycopg.connect(_database_url("postgres"), autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="module")
def sandbox():
    server = start_in_thread(api_key=settings.LEADPING_SANDBOX_KEY, latency_ms=200)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def instances(database, sandbox, tmp_path_factory):
    """Base URLs of two desks on two ports, prepared as `make serve` prepares one."""
    work = tmp_path_factory.mktemp("multi-instance")
    environment = desk_environment(
        work / "var",
        DATABASE_URL=database,
        REDIS_URL=REDIS_URL,
        DJANGO_STATIC_ROOT=str(work / "static"),
        LEADPING_API_KEY=settings.LEADPING_SANDBOX_KEY,
        LEADPING_API_BASE_URL=sandbox.base_url,
        LEADPING_BUDGET_CALLS=str(BUDGET_CALLS),
        LEADPING_BUDGET_BURST=str(BUDGET_CALLS),
        LEADPING_BUDGET_SECONDS="3600",
        LEADPING_CACHE_LIVE_SECONDS="60",
        METRICS_TOKEN=METRICS_TOKEN,
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
    )
    manage = [sys.executable, str(ROOT / "manage.py")]
    for command in (
        ["migrate", "--noinput"],
        ["collectstatic", "--noinput"],
        ["createsuperuser", "--noinput", "--username", USERNAME, "--email", "ops@example.com"],
    ):
        subprocess.run(
            [*manage, *command], cwd=ROOT, env=environment, check=True, capture_output=True
        )
    processes, urls = [], []
    try:
        for index in range(2):
            port = free_port()
            processes.append(start_gunicorn(port, environment, work / f"desk-{index}.log"))
            urls.append(f"http://127.0.0.1:{port}")
        yield urls
    finally:
        for process in processes:
            stop(process)


@pytest.fixture(autouse=True)
def _fresh_sandbox_counts(sandbox):
    sandbox.reset()


def log_in(base_url: str) -> requests.Session:
    session = requests.Session()
    form = session.get(f"{base_url}/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    response = session.post(
        f"{base_url}/accounts/login/",
        data={"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": token},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:500]
    return session


def fresh_live_id() -> str:
    return f"live-{uuid.uuid4().hex[:12]}"


def get_all(urls: list[str], cookies: dict[str, str]) -> list[requests.Response]:
    """GET every URL at once, each from its own thread."""
    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        return list(
            pool.map(
                lambda url: requests.get(url, cookies=cookies, allow_redirects=False, timeout=30),
                urls,
            )
        )


def scrape(base_url: str) -> str:
    response = requests.get(
        f"{base_url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
    )
    assert response.status_code == 200
    return response.text


def settled_scrape(base_url: str, series: str, expected: float, *, within: float = 5) -> str:
    """A scrape once `series` reads `expected`: counters are written just after each response."""
    deadline = time.monotonic() + within
    text = scrape(base_url)
    while sample(text, series) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        text = scrape(base_url)
    return text


def sample(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert match, f"{series} not in the scrape"
    return float(match.group(1))


def test_both_instances_are_ready_on_postgresql_redis_and_the_sandbox(instances):
    for base_url in instances:
        response = requests.get(f"{base_url}/readyz", timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["checks"] == {"database": "ok", "cache": "ok", "upstream": "ok"}


def test_a_login_made_on_one_instance_is_valid_on_the_other(instances):
    first, second = instances
    session = log_in(first)
    response = session.get(f"{second}/", allow_redirects=False, timeout=10)
    assert response.status_code == 200


def test_a_login_survives_a_redis_flush(instances):
    first, second = instances
    session = log_in(first)
    cache.clear()  # FLUSHDB on the instances' Redis
    response = session.get(f"{second}/", allow_redirects=False, timeout=10)
    assert response.status_code == 200


def test_concurrent_lookups_on_both_instances_make_one_upstream_call(instances, sandbox):
    first, second = instances
    cookies = log_in(first).cookies.get_dict()
    event_id = fresh_live_id()
    responses = get_all([f"{base}/events/{event_id}/" for base in instances * 4], cookies)
    assert [response.status_code for response in responses] == [200] * 8
    assert sandbox.stats()["by_event"] == {event_id: 1}
    # Either instance reports the counters of both.
    text = settled_scrape(second, 'leadping_lookups_total{outcome="found"}', 8)
    assert sample(text, 'leadping_upstream_calls_total{outcome="ok"}') == 1
    assert sample(text, 'leadping_lookups_total{outcome="found"}') == 8
    assert sample(text, "leadping_upstream_call_duration_seconds_count") == 1


def test_both_instances_spend_one_shared_call_budget(instances, sandbox):
    cookies = log_in(instances[0]).cookies.get_dict()
    urls = [f"{base}/events/{fresh_live_id()}/" for base in instances * 4]
    statuses = [response.status_code for response in get_all(urls, cookies)]
    assert sandbox.stats()["requests"] == BUDGET_CALLS
    assert statuses.count(200) == BUDGET_CALLS
    assert statuses.count(429) == len(urls) - BUDGET_CALLS
    refused = len(urls) - BUDGET_CALLS
    text = settled_scrape(instances[1], 'leadping_refused_calls_total{reason="budget"}', refused)
    assert sample(text, 'leadping_refused_calls_total{reason="budget"}') == refused


@pytest.mark.skipif(AUDIT_MODEL is None, reason="audit trail not built yet")
def test_lookups_on_both_instances_land_in_one_audit_trail(instances, database):
    import psycopg
    from psycopg import sql

    session = log_in(instances[0])
    looked_up = {}
    for base_url in instances:
        event_id = fresh_live_id()
        assert session.get(f"{base_url}/events/{event_id}/", timeout=30).status_code == 200
        looked_up[event_id] = base_url
    query = sql.SQL("SELECT event_id, username, outcome FROM {} WHERE event_id = ANY(%s)").format(
        sql.Identifier(AUDIT_MODEL._meta.db_table)
    )
    with psycopg.connect(database) as connection:
        rows = connection.execute(query, [list(looked_up)]).fetchall()
    assert sorted(rows) == sorted((event_id, USERNAME, "found") for event_id in looked_up)
