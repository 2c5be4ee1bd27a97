"""axe-core on every page state, light and dark; small screens; the weight of the first view."""

import gzip
from collections.abc import Callable
from uuid import uuid4

import pytest
from playwright.sync_api import Page, Response, expect

from events.sandbox.catalogue import HOSTILE_ID
from tests.e2e.support import (
    CANCELED_CALL,
    COMPLETED_SMS,
    FAILED_MMS,
    MALFORMED_EVENT,
    UNKNOWN_GUID,
    log_in,
    screenshot,
    serious_axe_violations,
)

FIRST_VIEW_BUDGET_BYTES = 40 * 1024


def _go(path: str) -> Callable[[Page], None]:
    def open_page(page: Page) -> None:
        response = page.goto(path)
        assert response is not None and response.status != 500

    return open_page


def _failed_login(page: Page) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("nobody")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_be_visible()


def _raw_json_open(page: Page) -> None:
    page.goto(f"/events/{COMPLETED_SMS}/")
    page.get_by_text("Raw JSON as received").click()
    expect(page.locator("#raw-json")).to_be_visible()


def _live_event(page: Page) -> None:
    page.goto(f"/events/live-{uuid4().hex[:16]}/")
    expect(page.locator("#status-panel .badge")).to_have_text("Pending")


def _live_event_not_refreshed(page: Page) -> None:
    """The look desk.js gives the panel while polls fail (the badge was faded once, below
    the contrast axe asks for)."""
    _live_event(page)
    page.evaluate("document.getElementById('status-panel').classList.add('is-client-stale')")


def _checked_again_too_soon(page: Page) -> None:
    """A message of the messages framework above the page ("you can check again in 30 s")."""
    page.goto(f"/events/{COMPLETED_SMS}/")
    page.get_by_role("link", name="Check again").click()
    expect(page.locator(".messages")).to_be_visible()


# name -> (who is looking, how to get there)
PAGE_STATES: dict[str, tuple[str, Callable[[Page], None]]] = {
    "login": ("anonymous", _go("/accounts/login/")),
    "login-error": ("anonymous", _failed_login),
    "lookup": ("staff", _go("/")),
    "lookup-error": ("staff", _go("/?q=no+id+in+here")),
    "event-completed-sms": ("staff", _go(f"/events/{COMPLETED_SMS}/")),
    "event-failed-mms": ("staff", _go(f"/events/{FAILED_MMS}/")),
    "event-canceled-call": ("staff", _go(f"/events/{CANCELED_CALL}/")),
    "event-malformed": ("staff", _go(f"/events/{MALFORMED_EVENT}/")),
    "event-hostile": ("staff", _go(f"/events/{HOSTILE_ID}/")),
    "event-live": ("staff", _live_event),
    "event-live-not-refreshed": ("staff", _live_event_not_refreshed),
    "event-raw-json": ("staff", _raw_json_open),
    "event-with-message": ("staff", _checked_again_too_soon),
    "error-not-found": ("staff", _go(f"/events/{UNKNOWN_GUID}/")),
    "error-invalid-id": ("staff", _go("/events/-not-an-id-/")),
    "error-rate-limited": ("staff", _go("/events/sandbox-429/")),
    "error-upstream-500": ("staff", _go("/events/sandbox-500/")),
    "error-upstream-503-html": ("staff", _go("/events/sandbox-503-html/")),
    "error-bad-payload": ("staff", _go("/events/sandbox-not-json/")),
    "error-forbidden-key": ("staff", _go("/events/sandbox-forbidden/")),
    "page-not-found": ("staff", _go("/no/such/page/")),
    "forbidden-403": ("visitor", _go("/")),
    "password-change": ("staff", _go("/accounts/password/")),
}


PHONE_SCREENSHOTS = {"lookup", "event-completed-sms", "event-failed-mms", "event-hostile", "login"}


@pytest.fixture
def open_state(new_context, staff_user, visitor, live_server, settings):
    """Open a page state in a fresh browser context (light colour scheme, 1280 px wide)."""
    # A live event must hold still while axe reads it: no poll swaps the panel meanwhile.
    settings.LEADPING_POLL_SECONDS = 300

    def open_in(state: str) -> Page:
        who, go_there = PAGE_STATES[state]
        context = new_context(color_scheme="light", viewport={"width": 1280, "height": 900})
        users = {"staff": staff_user, "visitor": visitor}
        if who in users:
            log_in(context, users[who], live_server.url)
        page = context.new_page()
        go_there(page)
        return page

    return open_in


def _horizontal_overflow(page: Page) -> int:
    return page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


@pytest.mark.parametrize("state", PAGE_STATES)
def test_each_page_state_passes_axe_in_light_and_dark_and_fits_a_phone(open_state, state):
    """axe-core finds nothing serious or critical in either colour scheme, and at 375 px
    nothing makes the page scroll sideways; screenshots keep each look for review."""
    page = open_state(state)
    problems = {}
    for color_scheme in ("light", "dark"):
        page.emulate_media(color_scheme=color_scheme)
        # Event pages are long: their light look is kept whole.
        whole = color_scheme == "light" and state.startswith("event-")
        screenshot(page, f"{state}-{color_scheme}", full_page=whole)
        problems[color_scheme] = serious_axe_violations(page)

    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 375, "height": 812})
    if state in PHONE_SCREENSHOTS:
        screenshot(page, f"{state}-375px")

    assert problems == {"light": [], "dark": []}, "\n".join(
        f"[{scheme}] {problem}" for scheme, found in problems.items() for problem in found
    )
    assert _horizontal_overflow(page) <= 0, f"{state} is wider than a 375 px screen"


@pytest.mark.parametrize("path", ["/", f"/events/{COMPLETED_SMS}/", "/audit/"])
def test_a_team_admins_longer_menu_fits_a_phone(new_context, team_admin, live_server, path):
    """Audit and Team add to the account menu; with a long name it must wrap, not overflow."""
    team_admin.username = "teresa.montgomery-abernathy"
    team_admin.save()
    context = new_context(color_scheme="light", viewport={"width": 375, "height": 812})
    log_in(context, team_admin, live_server.url)
    page = context.new_page()
    page.goto(live_server.url + path)
    expect(page.get_by_role("button", name="Log out")).to_be_in_viewport()
    if path == "/":
        screenshot(page, "lookup-team-admin-375px", full_page=False)
    assert _horizontal_overflow(page) <= 0, f"{path} is wider than a 375 px screen"


def test_the_first_view_weighs_at_most_40_kb_compressed(open_state):
    """HTML, CSS and JS of the lookup and of an event page, gzipped, htmx included."""
    weights = {}
    for state in ("lookup", "event-completed-sms"):
        responses: list[Response] = []
        page = open_state(state)
        page.on("response", lambda response, seen=responses: seen.append(response))
        page.reload(wait_until="load")
        first_view = [
            r for r in responses if r.request.resource_type in {"document", "stylesheet", "script"}
        ]
        assert {r.request.resource_type for r in first_view} == {"document", "stylesheet", "script"}
        weights[state] = {r.url: len(gzip.compress(r.body(), compresslevel=9)) for r in first_view}

    for state, compressed in weights.items():
        assert sum(compressed.values()) <= FIRST_VIEW_BUDGET_BYTES, (state, compressed)
