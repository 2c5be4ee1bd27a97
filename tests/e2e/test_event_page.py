"""An event's permalink in a real browser: status, copy buttons, raw JSON, keyboard use."""

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import (
    CANCELED_CALL,
    COMPLETED_SMS,
    FAILED_MMS,
    log_in,
    sandbox_payload,
)


@pytest.fixture
def clipboard_desk(new_context, staff_user, live_server) -> Page:
    """A logged-in page whose scripts may write and read the clipboard."""
    context = new_context(permissions=["clipboard-read", "clipboard-write"])
    log_in(context, staff_user, live_server.url)
    return context.new_page()


def _clipboard(page: Page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def _copy(page: Page, button_name: str, label: str) -> str:
    """Click a copy button, wait for the desk to confirm, and return the clipboard."""
    page.get_by_role("button", name=button_name, exact=True).first.click()
    expect(page.locator("#toast")).to_have_text(f"Copied {label}")
    return _clipboard(page)


def test_the_status_badge_says_the_status_in_words_and_an_icon_not_colour_alone(desk: Page):
    for event_id, label, icon in [
        (COMPLETED_SMS, "Completed", "#i-check"),
        (FAILED_MMS, "Failed", "#i-x-circle"),
        (CANCELED_CALL, "Cancelled", "#i-ban"),
    ]:
        desk.goto(f"/events/{event_id}/")

        badge = desk.locator("#status-panel .badge")
        expect(badge).to_have_text(label)
        expect(badge.locator("svg use")).to_have_attribute("href", icon)


def test_a_completed_sms_shows_its_lifecycle_up_to_delivery(desk: Page):
    desk.goto(f"/events/{COMPLETED_SMS}/")

    steps = desk.get_by_role("list", name="Lifecycle").get_by_role("listitem")
    expect(steps.locator(".step-label")).to_have_text(
        ["Created", "Queued", "Sending started", "Sent", "Delivered", "Last modified"]
    )
    expect(desk.locator(".step-outcome .step-label")).to_have_text("Delivered")
    expect(desk.get_by_role("link", name="+44 7400 123456")).to_have_attribute(
        "href", "tel:+447400123456"
    )


def test_check_again_on_a_final_event_says_when_the_desk_last_asked(desk: Page):
    desk.goto(f"/events/{COMPLETED_SMS}/")
    desk.get_by_role("link", name="Check again").click()
    # Just fetched: the desk does not ask again yet, and says when it will.
    expect(desk).to_have_url(re.compile(rf"/events/{COMPLETED_SMS}/$"))
    expect(desk.locator(".messages")).to_contain_text(
        re.compile(r"less than 30 seconds ago; you can check again in \d+ s\.")
    )
    expect(desk.locator("#status-panel .badge")).to_have_text("Completed")


def test_times_say_how_long_ago_they_were_in_the_browser(desk: Page):
    desk.goto(f"/events/{COMPLETED_SMS}/")

    relative = desk.locator(".step-outcome .relative")
    expect(relative).to_have_text(re.compile(r"^(\d+ (second|minute|hour|day)s? ago|now)$"))
    expect(desk.locator("dd .relative").first).to_have_text(re.compile(r" ago$|^now$"))


def test_a_failed_message_shows_the_reason_and_the_failure_as_its_outcome(desk: Page):
    desk.goto(f"/events/{FAILED_MMS}/")

    expect(desk.locator("#status-panel .status-reason")).to_contain_text("carrier rejected")
    expect(desk.locator(".step-failure .step-label")).to_contain_text("Failed")


def test_copy_buttons_put_the_ids_number_and_link_on_the_clipboard(
    clipboard_desk: Page, live_server
):
    page = clipboard_desk
    event = sandbox_payload(COMPLETED_SMS)
    page.goto(f"/events/{COMPLETED_SMS}/")

    assert _copy(page, "Copy ID", "event ID") == COMPLETED_SMS
    assert _copy(page, "Copy link", "link") == f"{live_server.url}/events/{COMPLETED_SMS}/"
    assert _copy(page, f"Copy {event['toPhoneNumber']}", "number") == event["toPhoneNumber"]
    assert _copy(page, "Copy user ID", "user ID") == event["user"]["id"]
    assert _copy(page, "Copy lead ID", "lead ID") == event["leadId"]


def test_the_raw_json_opens_copies_and_downloads_as_received(clipboard_desk: Page):
    page = clipboard_desk
    page.goto(f"/events/{COMPLETED_SMS}/")
    raw = page.locator("#raw-json")
    expect(raw).to_be_hidden()

    page.get_by_text("Raw JSON as received").click()

    expect(raw).to_be_visible()
    assert json.loads(raw.text_content())["id"] == COMPLETED_SMS
    copied = _copy(page, "Copy", "raw JSON")
    assert json.loads(copied) == json.loads(raw.text_content())

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download").click()
    download = download_info.value
    assert download.suggested_filename == f"leadping-event-{COMPLETED_SMS}.json"
    assert json.loads(Path(download.path()).read_text())["id"] == COMPLETED_SMS

    page.get_by_text("Raw JSON as received").click()
    expect(raw).to_be_hidden()


def test_slash_focuses_the_lookup_field_from_anywhere_on_the_page(desk: Page):
    desk.goto(f"/events/{COMPLETED_SMS}/")
    desk.get_by_role("button", name="Copy ID").focus()

    desk.keyboard.press("/")

    search = desk.get_by_role("searchbox", name="Event ID or link")
    expect(search).to_be_focused()
    desk.keyboard.type(FAILED_MMS)
    desk.keyboard.press("Enter")
    expect(desk.locator("#status-panel .badge")).to_have_text("Failed")


def test_escape_closes_an_open_details_and_returns_focus_to_its_summary(desk: Page):
    desk.goto(f"/events/{COMPLETED_SMS}/")
    summary = desk.locator("#raw-json-panel > summary")
    summary.focus()

    desk.keyboard.press("Enter")
    expect(desk.locator("#raw-json-panel")).to_have_attribute("open", "")
    desk.keyboard.press("Tab")
    expect(desk.locator("#raw-json-panel").get_by_role("button", name="Copy")).to_be_focused()
    desk.keyboard.press("Escape")

    expect(desk.locator("#raw-json-panel")).not_to_have_attribute("open", "")
    expect(summary).to_be_focused()


def test_keyboard_focus_is_always_visible(desk: Page):
    desk.goto(f"/events/{COMPLETED_SMS}/")

    desk.keyboard.press("Tab")
    skip_link = desk.get_by_role("link", name="Skip to content")
    expect(skip_link).to_be_focused()
    expect(skip_link).to_be_in_viewport()
    for _ in range(15):
        focused = desk.evaluate(
            """() => {
                const el = document.activeElement;
                const style = getComputedStyle(el);
                return {
                    name: el.outerHTML.slice(0, 80),
                    outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
                };
            }"""
        )
        assert focused["outline"], f"no visible focus outline on {focused['name']}"
        desk.keyboard.press("Tab")
