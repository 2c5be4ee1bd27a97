"""The sandbox's hostile event in a real browser: every injection string stays inert text."""

import pytest
from playwright.sync_api import Dialog, Page, expect

from events.sandbox.catalogue import HOSTILE_ID

SCRIPT = "<script>alert(1)</script>"

_ELEMENTS_WITH_HANDLERS = """() => [...document.querySelectorAll("*")]
    .filter((el) => [...el.attributes].some((attr) => attr.name.toLowerCase().startsWith("on")))
    .map((el) => el.outerHTML.slice(0, 120))"""
_SCRIPT_LINKS = """() => [...document.querySelectorAll("a[href]")]
    .filter((a) => !["http:", "https:", "tel:", "mailto:"].includes(new URL(a.href).protocol))
    .map((a) => a.getAttribute("href"))"""


@pytest.fixture
def dialogs(desk: Page) -> list[str]:
    """The message of every alert, confirm or prompt the page opens (there must be none)."""
    opened: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    desk.on("dialog", on_dialog)
    return opened


def test_the_hostile_event_renders_as_text_and_runs_nothing(desk: Page, dialogs: list[str]):
    desk.goto(f"/events/{HOSTILE_ID}/")

    expect(desk.get_by_role("heading", level=1)).to_contain_text(SCRIPT)
    expect(desk.locator(".description")).to_contain_text("{{ 7*7 }} {% debug %} ${7*7}")
    # 5,000 characters of summary scroll in their box, which the keyboard can reach.
    expect(desk.get_by_role("region", name="Summary (scrolls)")).to_have_attribute("tabindex", "0")
    expect(desk.locator("#status-panel .status-reason")).to_contain_text("</textarea><script>")
    # Hover and click where the payloads hide onmouseover= and onclick= handlers.
    desk.locator(".eyebrow").hover()
    desk.locator("#status-panel .badge").click()
    desk.get_by_text("Full payload").click()
    expect(desk.locator("#full-payload")).to_contain_text(SCRIPT)
    desk.get_by_text("Raw JSON as received").click()
    expect(desk.locator("#raw-json")).to_contain_text("onerror=alert(1)")

    assert dialogs == []
    expect(desk.locator("img")).to_have_count(0)
    expect(desk.locator('a[href^="javascript:" i]')).to_have_count(0)
    expect(desk.locator("script:not([src])")).to_have_count(0)
    expect(desk.locator("main style, main svg[onload]")).to_have_count(0)
    assert desk.evaluate(_ELEMENTS_WITH_HANDLERS) == []
    assert desk.evaluate(_SCRIPT_LINKS) == []
    assert desk.evaluate("typeof window.__pwned") == "undefined"
    expect(desk.locator("main")).to_be_visible()


def test_hostile_text_in_the_lookup_is_echoed_as_text(desk: Page, dialogs: list[str]):
    desk.goto("/")
    field = desk.get_by_role("searchbox", name="Event ID, a link to one")
    field.fill(f'"><img src=x onerror=alert(1)> {SCRIPT}')
    field.press("Enter")

    expect(desk.get_by_role("alert")).to_be_visible()
    expect(field).to_have_value(f'"><img src=x onerror=alert(1)> {SCRIPT}')
    assert dialogs == []
    expect(desk.locator("img")).to_have_count(0)


def test_a_hostile_permalink_is_refused_and_echoed_as_text(desk: Page, dialogs: list[str]):
    response = desk.goto("/events/%3Cimg%20src=x%20onerror=alert(1)%3E/")

    assert response is not None and response.status == 400
    expect(desk.locator("code.echo")).to_have_text("<img src=x onerror=alert(1)>")
    assert dialogs == []
    expect(desk.locator("img")).to_have_count(0)
