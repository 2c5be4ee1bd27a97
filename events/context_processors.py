"""Template context every desk page shares."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def desk(request: HttpRequest) -> dict[str, Any]:
    return {
        "desk_sandbox": settings.LEADPING_SANDBOX,
        "poll_seconds": settings.LEADPING_POLL_SECONDS,
    }
