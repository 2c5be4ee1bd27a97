"""Browser tests: Debian's Chromium drives the real desk against the real LeadPing sandbox.

The sandbox (`events.sandbox.server.start_in_thread`) and the desk (pytest-django's
`live_server`) both run in this process for the whole session; no page is mocked. Without
Chromium at /usr/bin/chromium every test here is skipped, with a reason saying so.
"""

import os

# Playwright's sync API runs an event loop in the test thread, and Django refuses ORM calls
# from a thread with a running loop unless told this is safe: set before Django touches the DB.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.test import override_settings
from playwright.sync_api import Page

from events.sandbox.server import DEFAULT_API_KEY, SandboxServer, start_in_thread
from tests.e2e.support import CHROMIUM, LIVE_SECONDS, PASSWORD, POLL_SECONDS, log_in

SKIP_REASON = f"Chromium not found at {CHROMIUM}: browser tests skipped"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

_HERE = Path(__file__).resolve().parent


def _is_browser_test(item: pytest.Item) -> bool:
    return _HERE in item.path.parents


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark each browser test `e2e` (so `-m e2e` selects them) and skip it without Chromium."""
    if _is_browser_test(item):
        item.add_marker(pytest.mark.e2e)
        if not CHROMIUM.exists():
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests last: once Playwright has started, its event loop runs in the
    main thread until the session ends, and no other test should run beside it."""
    browser_tests = [item for item in items if _is_browser_test(item)]
    items[:] = [item for item in items if not _is_browser_test(item)] + browser_tests


def pytest_collection_finish(session: pytest.Session) -> None:
    """Say at the top of the run whether the browser tests will run."""
    count = sum(map(_is_browser_test, session.items))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if not count or reporter is None:
        return
    if CHROMIUM.exists():
        reporter.write_line(f"e2e: {count} browser tests, in {CHROMIUM}")
    else:
        reporter.write_line(f"e2e: {SKIP_REASON} ({count} tests)", yellow=True, bold=True)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {**browser_context_args, "locale": "en-US", "timezone_id": "UTC"}


@pytest.fixture(scope="session")
def _plain_http_security_middleware() -> override_settings:
    """SecurityMiddleware reads its settings once, when the live server builds its handler:
    that handler must not send the browser to https:// (the live server speaks plain HTTP)."""
    plain_http = override_settings(SECURE_SSL_REDIRECT=False, SECURE_HSTS_SECONDS=0)
    plain_http.enable()
    return plain_http


@pytest.fixture(scope="session")
def live_server(_plain_http_security_middleware: override_settings, live_server):
    """pytest-django's live server, started with plain-HTTP security settings."""
    _plain_http_security_middleware.disable()
    return live_server


@pytest.fixture(scope="session")
def base_url(live_server) -> str:
    """Pages open relative to the live desk: page.goto("/events/live-demo/")."""
    return live_server.url


@pytest.fixture(scope="session")
def _migrated_data(django_db_setup) -> str:
    """The test database as the migrations left it (roles included), serialized by Django."""
    return connections[DEFAULT_DB_ALIAS]._test_serialized_contents


@pytest.fixture(scope="session", autouse=True)
def _serialized_rollback_beside_playwright(
    _migrated_data: str, playwright, django_db_blocker
) -> None:
    """Once Playwright's event loop runs in this thread, Django's connection handler keeps a
    separate connection for it (asgiref treats the thread as async): hand that connection the
    serialized migrated data too, so each test's flush and restore work as Django intends.

    Tests that ran before may have flushed the database and let post_migrate make the content
    types again under new keys: start from an empty database, as serialized rollback expects.
    """
    connections[DEFAULT_DB_ALIAS]._test_serialized_contents = _migrated_data
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, inhibit_post_migrate=True, verbosity=0)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    server = start_in_thread(live_seconds=LIVE_SECONDS)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _desk_on_sandbox(
    settings,
    _desk_test_settings,
    _fresh_upstream_state,
    django_db_serialized_rollback,
    sandbox: SandboxServer,
    live_server,
) -> None:
    """The live desk asks the session's sandbox, as `make run` does, and polls every 2 s.

    The live server needs committed data (transactional_db); serialized rollback brings back
    what migrations made, such as the roles, after each test's flush.
    """
    settings.LEADPING_API_BASE_URL = sandbox.base_url
    settings.LEADPING_API_KEY = DEFAULT_API_KEY
    settings.LEADPING_SANDBOX = True
    settings.LEADPING_POLL_SECONDS = POLL_SECONDS
    # A live answer is cached for less than a poll interval, so every poll can see a change.
    settings.LEADPING_CACHE_LIVE_SECONDS = 1
    # Generous: one test opens many pages, and the budget has tests of its own.
    settings.LEADPING_BUDGET_CALLS = settings.LEADPING_BUDGET_BURST = 1000
    sandbox.reset()


@pytest.fixture
def user_with_password(staff_user):
    """The support person, with a password the test types into the login form."""
    staff_user.set_password(PASSWORD)
    staff_user.save()
    return staff_user


@pytest.fixture
def visitor(django_user_model):
    """An account without the permission to look up events."""
    return django_user_model.objects.create_user("visitor", password=PASSWORD)


@pytest.fixture
def desk(page: Page, staff_user, live_server) -> Page:
    """A page logged in as a support person allowed to look up events."""
    log_in(page.context, staff_user, live_server.url)
    return page
