"""The lookup field in a real browser: IDs, pasted links and sentences, and what it refuses."""

import re

from playwright.sync_api import Page, expect

from tests.e2e.support import COMPLETED_SMS, FAILED_MMS


def _look_up(page: Page, text: str) -> None:
    page.get_by_label("Event ID, a link to one, or text that contains one").fill(text)
    page.get_by_role("button", name="Look up").click()


def test_the_lookup_field_has_focus_when_the_page_opens(desk: Page):
    desk.goto("/")

    expect(desk.get_by_role("heading", level=1)).to_have_text("What happened to this event?")
    expect(desk.get_by_role("searchbox", name="Event ID, a link to one")).to_be_focused()


def test_looking_up_an_id_opens_its_permalink(desk: Page):
    desk.goto("/")
    _look_up(desk, COMPLETED_SMS)

    expect(desk).to_have_url(re.compile(rf"/events/{COMPLETED_SMS}/$"))
    expect(desk.get_by_role("heading", level=1)).to_have_text("SmsSent ManualSend")
    expect(desk.locator("#status-panel .badge")).to_have_text("Completed")


def test_a_pasted_desk_url_opens_the_event_it_links_to(desk: Page, live_server):
    desk.goto("/")
    _look_up(desk, f"{live_server.url}/events/{FAILED_MMS}/?from=ticket")

    expect(desk).to_have_url(re.compile(rf"/events/{FAILED_MMS}/$"))
    expect(desk.locator("#status-panel .badge")).to_have_text("Failed")


def test_a_sentence_from_a_ticket_with_one_id_opens_that_event(desk: Page):
    desk.goto("/")
    _look_up(desk, f"Customer says event {COMPLETED_SMS} never arrived, please check.")

    expect(desk).to_have_url(re.compile(rf"/events/{COMPLETED_SMS}/$"))


def test_text_without_an_id_is_refused_with_a_message_by_the_field(desk: Page):
    desk.goto("/")
    _look_up(desk, "the message from yesterday afternoon")

    field = desk.get_by_role("searchbox", name="Event ID, a link to one")
    expect(desk.get_by_role("alert")).to_contain_text("event ID")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_value("the message from yesterday afternoon")


def test_the_top_bar_search_looks_up_from_any_page(desk: Page):
    desk.goto(f"/events/{FAILED_MMS}/")
    desk.get_by_role("searchbox", name="Event ID or link").fill(COMPLETED_SMS)
    desk.get_by_role("searchbox", name="Event ID or link").press("Enter")

    expect(desk).to_have_url(re.compile(rf"/events/{COMPLETED_SMS}/$"))
