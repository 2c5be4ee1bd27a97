"""Local-memory caches with a bound Django's LocMemCache lacks: on time, or on bytes.

ShortLivedLocMemCache keeps nothing longer than MAX_TIMEOUT seconds.

Without Redis, sessions are read through one of these ("cached_db"): a page view then costs
no database query for the login, and a logout, password change or session flush made by
another gunicorn worker reaches this one within MAX_TIMEOUT seconds, when its copy expires
and the database is read again. With one worker (`make run`), logouts apply at once.
"""

import time
from collections import OrderedDict
from typing import Any

from django.core.cache.backends import locmem
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


class BoundedLocMemCache(LocMemCache):
    """A local-memory cache that holds at most MAX_BYTES of (pickled) values.

    LocMemCache bounds only its count of entries (MAX_ENTRIES): 20,000 answers of a few KB
    are some tens of MB, but LeadPing may answer up to the client's limit of megabytes, and
    a process that kept thousands of those would run out of memory. Past MAX_BYTES, the
    least recently used entries go; a value larger than a quarter of MAX_BYTES is not kept.
    """

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS") or {})
        self.max_bytes = int(options.pop("MAX_BYTES", 64 * 2**20))
        # LocMemCache shares its store among the instances (one a thread) of a name.
        locmem._caches.setdefault(name, _SizedStore())
        super().__init__(name, {**params, "OPTIONS": options})

    def _set(self, key: str, value: bytes, timeout: object = DEFAULT_TIMEOUT) -> None:
        if len(value) > self.max_bytes // 4:
            self._delete(key)  # nor an older value in its place
            return
        super()._set(key, value, timeout)
        while self._cache.size > self.max_bytes:
            # LocMemCache moves what it reads or writes to the front: the last is the oldest.
            oldest, _ = self._cache.popitem()
            self._expire_info.pop(oldest, None)


class _SizedStore(OrderedDict[str, bytes]):
    """LocMemCache's store, counting the bytes of the values it holds as they come and go."""

    def __init__(self) -> None:
        super().__init__()
        self.size = 0

    def __setitem__(self, key: str, value: bytes) -> None:
        self.size += len(value) - len(self.get(key, b""))
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.size -= len(self[key])
        super().__delitem__(key)

    def popitem(self, last: bool = True) -> tuple[str, bytes]:
        key, value = super().popitem(last)
        self.size -= len(value)
        return key, value

    def clear(self) -> None:
        super().clear()
        self.size = 0
