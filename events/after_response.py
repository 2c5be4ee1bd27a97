"""Bookkeeping that need not hold up a response: done right after it has been sent.

A page's audit row and its counters are not part of what the viewer is waiting for. Inside a
request, `defer` queues such work and `batch` collects increments; AfterResponseMiddleware
runs them when the WSGI server closes the response, which it does once the last byte is
written, on the same worker thread and before that thread takes another request. Outside a
request (management commands, the shell, tests calling services directly) `defer` runs the
work at once and `batch` returns None, so nothing waits for a response that never comes.

A deferred task that fails is logged with what it was doing; it can no longer change the
response, and the other tasks still run.
"""

import logging
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from contextvars import ContextVar
from functools import partial

from django.http import HttpRequest, HttpResponseBase
from redis.exceptions import RedisError

from events.request_ids import bound_request_id

logger = logging.getLogger(__name__)

Task = Callable[[], object]


class _Scope:
    """What one request has put off until its response is out."""

    __slots__ = ("batches", "tasks")

    def __init__(self) -> None:
        self.tasks: list[Task] = []
        self.batches: dict[str, Counter[str]] = {}

    def run(self, request_id: str | None = None) -> None:
        with bound_request_id(request_id) if request_id else nullcontext():
            self._run()

    def _run(self) -> None:
        tasks, self.tasks = self.tasks, []
        for task in tasks:
            _run_logged(task)
        batches, self.batches = self.batches, {}
        for flush_name, batch in batches.items():
            flush = _FLUSHERS[flush_name]
            _run_logged(partial(flush, batch))


_current: ContextVar[_Scope | None] = ContextVar("desk_after_response", default=None)
_FLUSHERS: dict[str, Callable[[Counter[str]], object]] = {}


def _run_logged(task: Task) -> None:
    try:
        task()
    except RedisError as error:
        # Redis down is an outage the lookup itself has already logged: one line per task,
        # not a chained traceback of some sixty lines for every request while it lasts.
        logger.warning(
            "%s, deferred until after the response, failed: Redis did not answer (%s)",
            _name(task),
            type(error).__name__,
        )
    except Exception:
        logger.exception("%s, deferred until after the response, failed", _name(task))


def _name(task: Task) -> str:
    """What a task does, as a reader of the log knows it: its function's dotted name."""
    function = task.func if isinstance(task, partial) else task
    module = getattr(function, "__module__", None) or "?"
    return f"{module}.{getattr(function, '__qualname__', type(function).__name__)}"


def defer(task: Task) -> None:
    """Run `task` once the current response has been sent; at once outside a request."""
    scope = _current.get()
    if scope is None:
        task()
    else:
        scope.tasks.append(task)


def register_batch(name: str, flush: Callable[[Counter[str]], object]) -> None:
    """Declare a batch: `flush` gets the request's summed increments after the response."""
    _FLUSHERS[name] = flush


def batch(name: str) -> Counter[str] | None:
    """The current request's batch `name` to add increments to, or None outside a request."""
    scope = _current.get()
    if scope is None:
        return None
    found = scope.batches.get(name)
    if found is None:
        found = scope.batches[name] = Counter()
    return found


class AfterResponseMiddleware:
    """Opens a scope per request and runs it when the server closes the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        scope = _Scope()
        reset = _current.set(scope)
        try:
            response = self.get_response(request)
        except BaseException:
            scope.run()
            raise
        finally:
            _current.reset(reset)
        # Resource closers run in HttpResponseBase.close(), before request_finished (and so
        # before Django gives the database connection back); a public hook would run after.
        # Bound to the request's ID, so that its log lines still carry it.
        response._resource_closers.append(partial(scope.run, getattr(request, "request_id", None)))
        return response
