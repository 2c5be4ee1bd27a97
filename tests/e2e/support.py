"""What the browser tests share: the sandbox's events they open, logging in, screenshots, axe."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.test import Client
from playwright.sync_api import BrowserContext, Page

from events.sandbox.catalogue import build_catalogue

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"

# A live-* event is Pending for the first third of LIVE_SECONDS, In progress for the second
# and Completed after that: polling every POLL_SECONDS sees each phase at least once.
LIVE_SECONDS = 12
POLL_SECONDS = 2
PASSWORD = "a long passphrase for the desk"

COMPLETED_SMS = "0b7c6a1e-4f2d-4c8e-9a51-3d2e8f6b1c70"
FAILED_MMS = "f02164fc-b014-4d38-9b69-c3dd8323e6fc"
CANCELED_CALL = "96bbcb0b-9908-4857-9bb2-068d8d4a7edb"
MALFORMED_EVENT = "1cf5ea64-67a9-4836-9859-24fc3ee79a3f"
UNKNOWN_GUID = "00000000-0000-4000-8000-000000000000"

_AXE = Axe()
_BLOCKING_IMPACTS = {"serious", "critical"}


def sandbox_payload(event_id: str) -> dict[str, Any]:
    """What the sandbox answers for one of its catalogue events (timestamps aside)."""
    return build_catalogue(datetime.now(UTC))[event_id]


def log_in(context: BrowserContext, user: Any, base_url: str) -> None:
    """Give the browser the session cookie a successful login would have set."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies(
        [{"name": cookie.key, "value": cookie.value, "url": base_url, "httpOnly": True}]
    )


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save the page as it looks now to test-artifacts/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=full_page, animations="disabled", caret="initial")
    return path


def serious_axe_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page, one readable line per element."""
    response = _AXE.run(page).response
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        f"{', '.join(map(str, node['target']))}: {node.get('failureSummary', '')}"
        for violation in response["violations"]
        if violation["impact"] in _BLOCKING_IMPACTS
        for node in violation["nodes"]
    ]
