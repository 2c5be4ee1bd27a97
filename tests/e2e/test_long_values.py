"""Long words LeadPing may send where the sandbox has short ones, on a 375 px phone."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Page, expect

EVENT_ID = "long-kind-1"
# A timelineType and a direction the desk does not know are shown as received.
LONG_KIND = "ConversationAutomationWorkflowTriggeredNotification"
LONG_DIRECTION = "OutboundViaAutomationWorkflowRetry"


# A status the desk does not know is shown as received, and keeps the page polling.
LONG_STATUS = "QueuedForCarrierRetryAfterThrottlingWindowExpired"


class _OneEvent(BaseHTTPRequestHandler):
    status = "Completed"
    # When set, LeadPing fails with this as its problem's detail.
    failure: str | None = None

    def do_GET(self) -> None:
        if type(self).failure is not None:
            problem = json.dumps({"title": "Unavailable", "detail": type(self).failure}).encode()
            self.send_response(503)
            self.send_header("Content-Type", "application/problem+json")
            self.send_header("Content-Length", str(len(problem)))
            self.end_headers()
            self.wfile.write(problem)
            return
        body = json.dumps(
            {
                "id": EVENT_ID,
                "eventType": "Notification",
                "timelineType": LONG_KIND,
                "direction": LONG_DIRECTION,
                "status": type(self).status,
                "createdAt": "2026-01-02T03:04:05Z",
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def upstream_with_long_words(settings) -> Iterator[None]:
    """LeadPing answering EVENT_ID with an unknown, long kind and direction."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OneEvent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.LEADPING_API_BASE_URL = f"http://127.0.0.1:{server.server_port}"
    settings.LEADPING_SANDBOX = False
    yield
    _OneEvent.status = "Completed"
    _OneEvent.failure = None
    server.shutdown()
    server.server_close()


def _horizontal_overflow(page: Page) -> int:
    return page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def test_an_unknown_long_kind_and_direction_fit_a_phone(desk: Page, upstream_with_long_words):
    desk.set_viewport_size({"width": 375, "height": 812})
    desk.goto(f"/events/{EVENT_ID}/")
    expect(desk.locator(".eyebrow")).to_contain_text(LONG_KIND)
    assert _horizontal_overflow(desk) <= 0, "the event page is wider than a 375 px screen"

    # The home page's recent lookups name the kind too.
    desk.goto("/")
    expect(desk.locator("#my-recent-heading")).to_be_visible()
    expect(desk.locator(".recent-meta").first).to_contain_text(LONG_KIND)
    assert _horizontal_overflow(desk) <= 0, "the lookup page is wider than a 375 px screen"


def _watch_pending_on_a_phone(desk: Page) -> None:
    desk.set_viewport_size({"width": 375, "height": 812})
    _OneEvent.status = "Pending"
    desk.goto(f"/events/{EVENT_ID}/")
    expect(desk.locator("#status-panel .badge")).to_have_text("Pending")


def test_a_long_new_status_is_announced_within_a_phones_width(desk: Page, upstream_with_long_words):
    _watch_pending_on_a_phone(desk)
    _OneEvent.status = LONG_STATUS
    toast = desk.locator("#toast")
    expect(toast).to_have_text(f"Status now: {LONG_STATUS}", timeout=10_000)
    box = toast.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375, f"the toast is cut off: {box}"


# LeadPing's own words, one unbroken run of them, as its error detail.
LONG_FAILURE = "W" * 300


def test_a_long_unbroken_error_from_leadping_fits_a_phone(desk: Page, upstream_with_long_words):
    desk.set_viewport_size({"width": 375, "height": 812})
    _OneEvent.failure = LONG_FAILURE
    desk.goto(f"/events/{EVENT_ID}/")
    expect(desk.locator(".error-panel")).to_contain_text(LONG_FAILURE)
    assert _horizontal_overflow(desk) <= 0, "the error page is wider than a 375 px screen"


def test_a_long_unbroken_reason_for_a_stale_copy_fits_a_phone(desk: Page, upstream_with_long_words):
    _watch_pending_on_a_phone(desk)
    _OneEvent.failure = LONG_FAILURE
    expect(desk.locator("#status-panel .stale-note")).to_contain_text(LONG_FAILURE, timeout=15_000)
    assert _horizontal_overflow(desk) <= 0, "the stale copy's note is wider than a 375 px screen"
