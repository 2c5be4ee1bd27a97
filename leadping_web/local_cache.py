"""A local-memory cache that keeps nothing longer than MAX_TIMEOUT seconds.

Without Redis, sessions are read through one of these ("cached_db"): a page view then costs
no database query for the login, and a logout, password change or session flush made by
another gunicorn worker reaches this one within MAX_TIMEOUT seconds, when its copy expires
and the database is read again. With one worker (`make run`), logouts apply at once.
"""

import time
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache


class ShortLivedLocMemCache(LocMemCache):
    def __init__(self, name: str, params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS") or {})
        self.max_timeout = float(options.pop("MAX_TIMEOUT", 5))
        super().__init__(name, {**params, "OPTIONS": options})

    def get_backend_timeout(self, timeout: object = DEFAULT_TIMEOUT) -> float:
        """The expiry time Django would give, but never later than MAX_TIMEOUT from now."""
        chosen = super().get_backend_timeout(timeout)
        ceiling = time.time() + self.max_timeout
        return ceiling if chosen is None else min(chosen, ceiling)
