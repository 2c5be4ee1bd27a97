"""Logging in and out in a real browser, and coming back to a shared permalink."""

import re

from playwright.sync_api import Page, expect

from tests.e2e.support import COMPLETED_SMS, PASSWORD, log_in


def _submit_login(page: Page, username: str, password: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_it_logs_in_with_the_form_and_opens_the_lookup(page: Page, user_with_password):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in to the Event Desk")

    _submit_login(page, user_with_password.username, PASSWORD)

    expect(page.get_by_role("heading", level=1)).to_have_text("What happened to this event?")
    expect(page.get_by_role("navigation", name="Account")).to_contain_text(
        user_with_password.username
    )


def test_it_says_so_when_the_password_is_wrong(page: Page, user_with_password):
    page.goto("/accounts/login/")
    _submit_login(page, user_with_password.username, "not the password")

    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    expect(page.get_by_label("Username")).to_have_value(user_with_password.username)


def test_a_permalink_opened_logged_out_returns_to_the_event_after_login(
    page: Page, user_with_password
):
    page.goto(f"/events/{COMPLETED_SMS}/")
    expect(page).to_have_url(re.compile(rf"/accounts/login/\?next=/events/{COMPLETED_SMS}/$"))
    expect(page.get_by_text("Log in to see the page you asked for.")).to_be_visible()

    _submit_login(page, user_with_password.username, PASSWORD)

    expect(page).to_have_url(re.compile(rf"/events/{COMPLETED_SMS}/$"))
    expect(page.locator("#status-panel .badge")).to_have_text("Completed")


def test_log_out_posts_the_form_and_ends_the_session(desk: Page):
    desk.goto("/")
    desk.get_by_role("button", name="Log out").click()

    expect(desk).to_have_url(re.compile(r"/accounts/login/$"))
    desk.goto(f"/events/{COMPLETED_SMS}/")
    expect(desk).to_have_url(re.compile(r"/accounts/login/\?next="))


def test_an_account_without_the_permission_gets_the_403_page(page: Page, visitor, live_server):
    log_in(page.context, visitor, live_server.url)
    response = page.goto(f"/events/{COMPLETED_SMS}/")

    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("You cannot use this page")


def test_the_password_change_form_opens_from_the_top_bar(desk: Page):
    desk.goto("/")
    desk.get_by_role("link", name="Password").click()

    expect(desk.get_by_role("heading", level=1)).to_have_text("Change your password")
    expect(desk.get_by_label("Old password")).to_be_visible()
