"""A deadline for a whole HTTP exchange with LeadPing: connecting, headers and body.

requests' and urllib3's timeouts bound each socket operation, not the exchange. A server
that sends a byte every few seconds, of its headers or of its body, never trips them and
keeps the thread for as long as it likes; a few such calls and the desk has no threads
left. Within `deadline(seconds)`, the connection an exchange runs on (made by
DeadlineAdapter) is known, and one watchdog thread per process shuts its socket down when
the deadline passes, so that the blocked read fails at once.
"""

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class Exchange:
    """One exchange under a deadline; `expired` once the watchdog has cut it off."""

    __slots__ = ("connection", "deadline", "done", "expired")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.connection: HTTPConnection | None = None
        self.done = False
        self.expired = False

    def attach(self, connection: HTTPConnection) -> None:
        self.connection = connection
        if self.expired:
            _shut(connection)

    def expire(self) -> None:
        """Called by the watchdog, holding its lock, as is `finish`."""
        if self.done:
            return
        self.expired = True
        if self.connection is not None:
            _shut(self.connection)

    def finish(self) -> None:
        """The exchange is over: its connection may serve another one, never to be cut."""
        if not self.done:
            with _watchdog.lock:
                self.done = True


def _shut(connection: HTTPConnection) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


_current: ContextVar[Exchange | None] = ContextVar("leadping_exchange", default=None)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[Exchange]:
    """Cut off the LeadPing exchange made inside this block after `seconds`."""
    exchange = Exchange(time.monotonic() + max(seconds, 0.0))
    token = _current.set(exchange)
    _watchdog.watch(exchange)
    try:
        yield exchange
    finally:
        exchange.finish()
        _current.reset(token)


class _Watchdog:
    """One thread, woken at the earliest deadline still pending."""

    def __init__(self) -> None:
        self._pending: list[tuple[float, int, Exchange]] = []
        self._order = itertools.count()
        self.lock = threading.Lock()
        self._wake = threading.Condition(self.lock)
        self._thread: threading.Thread | None = None

    def watch(self, exchange: Exchange) -> None:
        with self._wake:
            earliest = self._pending[0][0] if self._pending else None
            heapq.heappush(self._pending, (exchange.deadline, next(self._order), exchange))
            if self._thread is None or not self._thread.is_alive():
                # Started here, not at import: a forked gunicorn worker gets its own.
                self._thread = threading.Thread(
                    target=self._run, name="leadping-deadline", daemon=True
                )
                self._thread.start()
            elif earliest is None or exchange.deadline < earliest:
                self._wake.notify()

    def _run(self) -> None:
        with self._wake:
            while True:
                while self._pending and self._pending[0][2].done:
                    heapq.heappop(self._pending)
                if not self._pending:
                    self._wake.wait()
                    continue
                wait = self._pending[0][0] - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                heapq.heappop(self._pending)[2].expire()


_watchdog = _Watchdog()


class _Attaching:
    """Tells the exchange in progress which connection it runs on."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _attach(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach(self)
        super().request(*args, **kwargs)  # type: ignore[misc]


def _attach(connection: Any) -> None:
    exchange = _current.get()
    if exchange is not None:
        exchange.attach(connection)


class _HTTPConnection(_Attaching, HTTPConnection):
    pass


class _HTTPSConnection(_Attaching, HTTPSConnection):
    pass


class _HTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """requests' HTTPAdapter, whose connections can be cut off by `deadline`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _HTTPConnectionPool,
            "https": _HTTPSConnectionPool,
        }
