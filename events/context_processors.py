"""Template context every desk page shares."""

import functools
import hashlib
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest

_APP_DIR = Path(__file__).resolve().parent


def desk(request: HttpRequest) -> dict[str, Any]:
    return {
        "desk_sandbox": settings.LEADPING_SANDBOX,
        "poll_seconds": settings.LEADPING_POLL_SECONDS,
        "render_version": render_version(),
    }


@functools.cache
def render_version() -> str:
    """Changes when the desk's templates or template tags do: part of every cached fragment's
    key, so that a deploy never serves HTML rendered by the previous release from Redis."""
    digest = hashlib.blake2b(digest_size=6)
    sources = [
        *sorted(Path(settings.BASE_DIR, "templates").rglob("*.html")),
        *sorted((_APP_DIR / "templatetags").glob("*.py")),
        _APP_DIR / "presentation.py",
    ]
    for path in sources:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
