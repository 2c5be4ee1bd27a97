"""Every way a lookup can fail, seen in a real browser: a clear page, never a 500."""

from unittest import mock

from playwright.sync_api import Page, expect

from events import services
from tests.e2e.support import COMPLETED_SMS, UNKNOWN_GUID

# (event ID, HTTP status, heading, something the page explains); the 429 comes last, as the
# desk then holds every call to LeadPing for the 17 s of its Retry-After.
ERROR_PAGES = [
    (UNKNOWN_GUID, 404, "No such event", "has no event with the ID"),
    ("-not-an-id-", 400, "That is not an event ID", "did not ask"),
    ("sandbox-500", 503, "LeadPing is not answering", "HTTP 500"),
    ("sandbox-503-html", 503, "LeadPing is not answering", "HTTP 503"),
    ("sandbox-not-json", 502, "LeadPing sent something the desk cannot read", "quoting the"),
    ("sandbox-forbidden", 502, "LeadPing refused the desk's API key", "LEADPING_API_KEY"),
    ("sandbox-429", 429, "LeadPing is busy", "Try again in 17 seconds"),
]


def test_each_failure_has_its_own_page_and_status(desk: Page):
    for event_id, status, heading, explanation in ERROR_PAGES:
        response = desk.goto(f"/events/{event_id}/")

        assert response is not None and response.status == status, event_id
        expect(desk.get_by_role("heading", level=1)).to_have_text(heading)
        expect(desk.locator("main")).to_contain_text(explanation)
        expect(desk.get_by_label("Look up another event")).to_be_visible()


def test_a_rate_limit_tells_the_browser_when_to_retry(desk: Page):
    response = desk.goto("/events/sandbox-429/")

    assert response is not None and response.headers["retry-after"] == "17"
    expect(desk.get_by_role("link", name="Try again")).to_have_attribute(
        "href", "/events/sandbox-429/"
    )


def test_an_unknown_page_gets_the_desk_404(desk: Page):
    response = desk.goto("/no/such/page/")

    assert response is not None and response.status == 404
    expect(desk.get_by_role("heading", level=1)).to_have_text("Page not found")


def test_a_busy_desk_tries_again_by_itself_when_it_said_it_would(desk: Page):
    real_lookup = services.lookup_event
    calls = []

    def busy_once(*, event_id: str) -> services.EventSnapshot:
        calls.append(event_id)
        if len(calls) == 1:
            raise services.DeskBusy(services.DeskBusy.ALREADY_ASKING)
        return real_lookup(event_id=event_id)

    with mock.patch("events.services.lookup_event", side_effect=busy_once):
        response = desk.goto(f"/events/{COMPLETED_SMS}/")
        assert response is not None and response.status == 503
        assert response.headers["retry-after"] == str(services.BUSY_RETRY_SECONDS)
        expect(desk.get_by_role("heading", level=1)).to_have_text("The desk is busy")
        expect(desk.locator("main")).to_contain_text("already asking it about this event")
        expect(desk.locator("[data-auto-retry-note]")).to_have_text(
            f"The page tries again by itself in {services.BUSY_RETRY_SECONDS} s."
        )
        # Retry-After plus at most a second of jitter.
        expect(desk.locator("#status-panel .badge")).to_be_visible(timeout=10_000)
    assert calls == [COMPLETED_SMS, COMPLETED_SMS]
