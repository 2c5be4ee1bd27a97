"""A live event's status refreshing itself in a real browser, and stopping once it is final."""

import re
from uuid import uuid4

import pytest
from playwright.sync_api import Page, Request, Response, expect

from tests.e2e.support import LIVE_SECONDS, POLL_SECONDS, screenshot

# Long enough for the phase change plus a poll that may have just missed it.
PHASE_TIMEOUT_MS = (LIVE_SECONDS / 3 + 2 * POLL_SECONDS) * 1000
# As the desk's own error answers: desk.js quotes only plain text.
PLAIN = "text/plain; charset=utf-8"


def _seconds(clock: str) -> int:
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def _is_poll(url: str) -> bool:
    return "/status/" in url


@pytest.fixture
def live_event_id() -> str:
    """A fresh live-* event: its clock starts when the desk first asks for it."""
    return f"live-{uuid4().hex[:16]}"


def test_a_live_event_goes_pending_in_progress_completed_without_a_reload(
    desk: Page, live_event_id: str
):
    polls: list[str] = []
    answers: list[int] = []

    def on_request(request: Request) -> None:
        if _is_poll(request.url):
            polls.append(request.url)

    def on_response(response: Response) -> None:
        if _is_poll(response.url):
            answers.append(response.status)

    desk.on("request", on_request)
    desk.on("response", on_response)
    desk.goto(f"/events/{live_event_id}/")
    desk.evaluate("window.__sameDocument = true")
    badge = desk.locator("#status-panel .badge")
    steps = desk.get_by_role("list", name="Lifecycle").locator(".step-label")

    expect(badge).to_have_text("Pending")
    expect(steps).to_contain_text(["Queued"])
    expect(desk.locator("#status-panel")).to_contain_text("Live")

    expect(badge).to_have_text("In progress", timeout=PHASE_TIMEOUT_MS)
    # Said in the polite live region too, for screen readers.
    expect(desk.locator("#toast")).to_have_text("Status now: In progress")
    expect(steps).to_contain_text(["Queued", "Sending started"])
    screenshot(desk, "event-live-in-progress")

    expect(badge).to_have_text("Completed", timeout=PHASE_TIMEOUT_MS)
    # Said at once, although "In progress" was said less than 10 s before: nothing follows
    # a final status.
    expect(desk.locator("#toast")).to_have_text("Status now: Completed", timeout=1500)
    expect(steps).to_contain_text(["Queued", "Sending started", "Sent", "Delivered"])
    expect(desk.locator("#status-panel")).to_contain_text("Final")
    expect(desk.locator("#status-panel[hx-trigger]")).to_have_count(0)
    assert desk.evaluate("window.__sameDocument") is True, "the page was reloaded"
    assert answers[-1] == 286, "the last poll should tell htmx to stop polling"
    # The details below the panel follow the new answer too, not only the badge.
    expect(desk.locator("#raw-json")).to_contain_text('"status": "Completed"')

    polls_when_final = len(polls)
    # Proving that nothing happens takes waiting: two and a half poll intervals.
    desk.wait_for_timeout(2.5 * POLL_SECONDS * 1000)
    assert len(polls) == polls_when_final, "the page kept polling a final event"


def test_a_failing_poll_says_so_and_the_next_good_answer_clears_it(desk: Page, live_event_id: str):
    logged: list[str] = []
    desk.on("console", lambda message: logged.append(f"{message.type}: {message.text}"))
    desk.goto(f"/events/{live_event_id}/")
    note = desk.locator("[data-client-stale]")
    expect(note).to_be_hidden()

    desk.route(
        "**/status/**",
        lambda route: route.fulfill(status=503, content_type=PLAIN, body="LeadPing is down"),
    )
    expect(note).to_be_visible(timeout=3 * POLL_SECONDS * 1000)
    expect(note).to_contain_text("LeadPing is down")
    # Written as the page writes times: 24-hour, the viewer's zone (UTC here), and since the
    # last poll the desk answered, which the panel shows as "checked".
    checked = desk.locator("[data-checked]").inner_text()
    expect(note).to_contain_text(re.compile(r"^Not refreshed since \d\d:\d\d:\d\d: "))
    # After one failure the page waits two ticks, then asks on the third.
    expect(note).to_contain_text(re.compile(r" Trying again in about \d+ s\.$"))
    # The wait changes at every failed poll: kept from screen readers, or the whole note was
    # read out again each time.
    expect(note.locator("[data-note-next]")).to_have_attribute("aria-hidden", "true")
    assert "AM" not in note.inner_text() and "PM" not in note.inner_text()
    since = re.search(r"since (\d\d:\d\d:\d\d)", note.inner_text()).group(1)
    assert abs(_seconds(since) - _seconds(checked)) <= 2, (since, checked)
    expect(desk.locator("#status-panel")).to_have_class(re.compile(r"\bis-client-stale\b"))
    # Said in the note, not also by htmx in the console at every failed poll.
    assert not [line for line in logged if "Response Status Error" in line], logged

    desk.unroute("**/status/**")
    # desk.js skips a few ticks after a failure before it asks again.
    expect(note).to_be_hidden(timeout=6 * POLL_SECONDS * 1000)
    expect(desk.locator("#status-panel")).not_to_have_class(re.compile(r"\bis-client-stale\b"))


def test_a_tab_shown_again_checks_at_once(desk: Page, live_event_id: str):
    polls: list[float] = []
    desk.on("request", lambda request: polls.append(1) if _is_poll(request.url) else None)
    desk.goto(f"/events/{live_event_id}/")
    expect(desk.locator("#status-panel .badge")).to_have_text("Pending")
    hide = (
        "hidden => { Object.defineProperty(document, 'hidden', {value: hidden, "
        "configurable: true}); document.dispatchEvent(new Event('visibilitychange')); }"
    )
    desk.evaluate(hide, True)
    desk.wait_for_timeout(3 * POLL_SECONDS * 1000)
    held = len(polls)
    with desk.expect_request(lambda request: _is_poll(request.url), timeout=POLL_SECONDS * 500):
        desk.evaluate(hide, False)
    assert len(polls) == held + 1


def test_a_failing_polls_note_ends_its_sentence_once(desk: Page, live_event_id: str):
    """The desk's own messages end with a full stop: the note must not add a second one."""
    desk.goto(f"/events/{live_event_id}/")
    note = desk.locator("[data-client-stale]")
    desk.route(
        "**/status/**",
        lambda route: route.fulfill(
            status=404, content_type=PLAIN, body="LeadPing has no event with this ID."
        ),
    )
    expect(note).to_be_visible(timeout=3 * POLL_SECONDS * 1000)
    expect(note).to_contain_text("LeadPing has no event with this ID. ")
    assert ".." not in note.inner_text(), note.inner_text()


def test_a_new_answer_keeps_the_raw_json_open_and_the_focus_where_it_was(
    desk: Page, live_event_id: str
):
    """The details below the panel are fetched again when the status changes; what the
    reader had open, and the keyboard focus, must survive it."""
    desk.goto(f"/events/{live_event_id}/")
    badge = desk.locator("#status-panel .badge")
    expect(badge).to_have_text("Pending")
    desk.get_by_text("Raw JSON as received").click()
    expect(desk.locator("#raw-json")).to_contain_text('"status": "Pending"')
    # Below the references, where the new answer adds "Copy provider message ID": the
    # focus must follow the control, not its place among the page's controls.
    copy_json = desk.locator("#raw-json-panel").get_by_role("button", name="Copy")
    copy_json.focus()

    expect(badge).to_have_text("In progress", timeout=PHASE_TIMEOUT_MS)
    # The details follow the new answer…
    expect(desk.locator("#raw-json")).to_contain_text('"status": "InProgress"')
    # …without folding the raw JSON away or dropping the focus to the page.
    expect(desk.locator("#raw-json-panel")).to_have_attribute("open", "")
    expect(desk.get_by_role("button", name="Copy provider message ID")).to_be_visible()
    expect(copy_json).to_be_focused()


def test_a_new_answer_keeps_the_focus_on_the_raw_json_box_whose_text_changed(
    desk: Page, live_event_id: str
):
    desk.goto(f"/events/{live_event_id}/")
    desk.get_by_text("Raw JSON as received").click()
    box = desk.locator("#raw-json")
    box.focus()
    badge = desk.locator("#status-panel .badge")
    expect(badge).to_have_text("In progress", timeout=PHASE_TIMEOUT_MS)
    expect(box).to_contain_text('"status": "InProgress"')
    expect(box).to_be_focused()


def test_a_new_answer_keeps_the_raw_jsons_scroll(desk: Page, live_event_id: str):
    # A new answer put the box back at its top every poll that changed something.
    desk.set_viewport_size({"width": 1280, "height": 400})
    desk.goto(f"/events/{live_event_id}/")
    desk.get_by_text("Raw JSON as received").click()
    box = desk.locator("#raw-json")
    assert box.evaluate("box => box.scrollHeight > box.clientHeight + 100")
    box.evaluate("box => { box.scrollTop = 100; }")
    badge = desk.locator("#status-panel .badge")
    expect(badge).to_have_text("In progress", timeout=PHASE_TIMEOUT_MS)
    expect(box).to_contain_text('"status": "InProgress"')
    assert box.evaluate("box => box.scrollTop") == 100


def test_the_head_and_the_tabs_title_follow_a_new_answer(desk: Page, live_event_id: str):
    """The head (what the event is, its ID) comes out of band with the new details."""

    def as_a_call(route):
        answer = route.fetch()
        body = re.sub(
            r'(id="event-heading" data-title=")SMS ([^"]*">)SmsSent',
            r"\1Call \2CallPlaced",
            answer.text(),
        )
        route.fulfill(response=answer, body=body)

    desk.goto(f"/events/{live_event_id}/")
    assert desk.title().startswith("SMS live-")
    desk.route("**/details/", as_a_call)
    badge = desk.locator("#status-panel .badge")
    expect(badge).to_have_text("In progress", timeout=PHASE_TIMEOUT_MS)
    expect(desk.locator("#event-heading")).to_contain_text("CallPlaced")
    expect(desk).to_have_title(re.compile(r"^Call live-.* · LeadPing Event Desk$"))
    assert desk.locator("#event-head").count() == 1


def test_details_whose_fetch_failed_catch_up_at_a_later_poll(desk: Page, live_event_id: str):
    failed: list[str] = []

    def fail_once(route):
        if failed:
            route.continue_()
        else:
            failed.append(route.request.url)
            route.abort()

    errors: list[str] = []
    desk.on("pageerror", lambda error: errors.append(str(error)))
    desk.goto(f"/events/{live_event_id}/")
    desk.route("**/details/", fail_once)
    badge = desk.locator("#status-panel .badge")
    expect(badge).to_have_text("In progress", timeout=PHASE_TIMEOUT_MS)
    # The next poll answers 204 (nothing new), and the details see they are behind.
    expect(desk.locator("#raw-json")).to_contain_text(
        '"status": "InProgress"', timeout=3 * POLL_SECONDS * 1000
    )
    assert failed
    assert errors == []


def test_an_html_error_page_is_not_quoted_in_the_note(desk: Page, live_event_id: str):
    desk.goto(f"/events/{live_event_id}/")
    desk.route(
        "**/status/**",
        lambda route: route.fulfill(
            status=502, content_type="text/html", body="<!doctype html><h1>Bad gateway</h1>"
        ),
    )
    note = desk.locator("[data-client-stale]")
    expect(note).to_be_visible(timeout=3 * POLL_SECONDS * 1000)
    expect(note).to_contain_text("the desk answered 502.")
    assert "doctype" not in note.inner_text()


def test_a_poll_keeps_the_focus_and_scroll_of_a_long_status_reason(desk: Page, live_event_id: str):
    """desk.js makes an overflowing status reason a focusable region; each poll redraws the
    whole panel, and dropped the focus to the page and the box's scroll to the top."""
    reason = " ".join(f"Carrier note {n}." for n in range(400))

    def with_reason(route):
        # Every poll answered with the panel (200), as if LeadPing's answer had changed.
        url = re.sub(r"\?v=.*", "?v=changed", route.request.url)
        answer = route.fetch(url=url)
        said = f'</span></span>\n<span class="status-reason">{reason} {uuid4().hex}</span>'
        route.fulfill(response=answer, body=answer.text().replace("</span></span>", said, 1))

    desk.route(re.compile(r"/events/live-[^/]+/(status/.*)?$"), with_reason)
    desk.goto(f"/events/{live_event_id}/")
    box = desk.get_by_role("region", name="Status reason (scrolls)")
    box.focus()
    box.evaluate("box => { box.scrollTop = 120; }")
    with desk.expect_response(
        lambda response: _is_poll(response.url) and response.status == 200,
        timeout=3 * POLL_SECONDS * 1000,
    ):
        pass
    desk.wait_for_timeout(300)  # htmx settles the swap after the answer
    expect(box).to_be_focused()
    assert box.evaluate("box => box.scrollTop") == 120


def test_a_copy_going_stale_is_said_by_the_toast(desk: Page, live_event_id: str):
    """The panel's note on a stale copy comes in with the panel: a live region added with its
    text is not read out, so screen readers never heard that LeadPing was failing."""
    reason = "LeadPing did not answer in time. Showing the last copy the desk got."

    def stale(route):
        url = re.sub(r"\?v=.*", "?v=changed", route.request.url)
        answer = route.fetch(url=url)
        body = answer.text().replace(
            'class="panel status-panel ', 'class="panel status-panel is-stale ', 1
        )
        body = body.replace(
            "</section>", f'<p class="stale-note" role="status">{reason}</p></section>', 1
        )
        route.fulfill(response=answer, body=body)

    desk.goto(f"/events/{live_event_id}/")
    desk.route(re.compile(r"/events/live-[^/]+/status/.*"), stale)
    expect(desk.locator("#status-panel")).to_have_class(
        re.compile(r"\bis-stale\b"), timeout=3 * POLL_SECONDS * 1000
    )
    expect(desk.locator("#toast")).to_have_text(reason)


def test_a_relative_time_in_the_stale_note_is_not_read_out_again_as_it_changes(
    desk: Page, live_event_id: str
):
    """The note is a live region: each new "13 seconds ago" had a screen reader read the
    whole note again, every 5 s."""

    def with_stale_note(route):
        answer = route.fetch()
        note = (
            '<p class="stale-note" role="status" id="probe-note">LeadPing is failing. Showing '
            'the last copy, from 10:00:00 (<span data-since="2026-01-01T10:00:00Z">x</span>).</p>'
        )
        route.fulfill(
            response=answer, body=answer.text().replace("</section>", note + "</section>", 1)
        )

    desk.route(re.compile(r"/events/live-[^/]+/$"), with_stale_note)
    desk.goto(f"/events/{live_event_id}/")
    since = desk.locator("#probe-note [data-since]")
    expect(since).to_have_attribute("aria-hidden", "true")
    expect(since).to_contain_text("ago")
    # Relative times elsewhere (not in a live region) stay readable.
    assert desk.locator("[data-since]:not(#probe-note [data-since])[aria-hidden]").count() == 0
