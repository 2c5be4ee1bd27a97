"""Audit rows and counters are written once the response has been sent, and never lost."""

import functools
import logging
from unittest import mock

import pytest
from django.core.signals import request_finished
from django.db import DatabaseError, close_old_connections
from django.db.backends.utils import CursorWrapper
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from events import after_response, request_ids, upstream
from events.audit import record_lookup
from events.models import LookupAudit
from tests.test_views import SMS_ID, lookup_event  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def _request(user):
    request = RequestFactory().get("/events/x/", REMOTE_ADDR="10.0.0.7")
    request.user = user
    request.request_id = "req-after-1"
    return request


def _server_closes(response):
    """What the WSGI server does once the last byte is out (the test database stays open)."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def _view_that_audits_and_counts(request):
    record_lookup(request, event_id="evt-1", kind="page", outcome="found", status="Completed")
    upstream.count("cache_hits")
    upstream.count("cache_hits")
    upstream.count("polls_served", 3)
    return HttpResponse("ok")


def test_the_audit_row_and_counters_wait_for_the_response_to_be_closed(staff_user):
    middleware = after_response.AfterResponseMiddleware(_view_that_audits_and_counts)

    response = middleware(_request(staff_user))

    # The WSGI server has the response and is sending it: nothing written yet.
    assert not LookupAudit.objects.exists()
    assert upstream.read_counters()["cache_hits"] == 0
    _server_closes(response)
    row = LookupAudit.objects.get()
    assert (row.username, row.event_id, row.outcome, row.status) == (
        "sam",
        "evt-1",
        "found",
        "Completed",
    )
    assert row.client_ip == "10.0.0.7"
    counters = upstream.read_counters()
    assert counters["cache_hits"] == 2
    assert counters["polls_served"] == 3


def test_outside_a_request_the_work_is_done_at_once(staff_user):
    upstream.count("cache_misses")
    record_lookup(_request(staff_user), event_id="evt-2", kind="page", outcome="found")

    assert upstream.read_counters()["cache_misses"] == 1
    assert LookupAudit.objects.get().event_id == "evt-2"


def test_a_failed_audit_insert_is_logged_with_the_row_and_the_rest_still_runs(staff_user, caplog):
    middleware = after_response.AfterResponseMiddleware(_view_that_audits_and_counts)
    response = middleware(_request(staff_user))

    with (
        mock.patch.object(CursorWrapper, "execute", side_effect=DatabaseError("disk full")),
        caplog.at_level(logging.ERROR),
    ):
        _server_closes(response)

    assert response.status_code == 200
    logged = [r for r in caplog.records if r.name == "events.audit"]
    assert len(logged) == 1
    assert "user=sam kind=page event_id=evt-1 outcome=found" in logged[0].getMessage()
    # The counters, flushed after the failed task, were still written.
    assert upstream.read_counters()["cache_hits"] == 2


def test_a_failing_task_does_not_stop_the_others(caplog):
    done = []

    def view(request):
        after_response.defer(lambda: 1 / 0)
        after_response.defer(lambda: done.append("second"))
        return HttpResponse("ok")

    response = after_response.AfterResponseMiddleware(view)(RequestFactory().get("/"))
    with caplog.at_level(logging.ERROR):
        _server_closes(response)

    assert done == ["second"]
    assert "ZeroDivisionError" in caplog.text


def test_a_redis_outage_is_one_line_per_task_not_a_traceback(caplog):
    # While Redis was down every lookup's counters failed after its response, each with a
    # chained traceback: 340 of them, 250 KB of log, in a 7 s outage under load.
    from redis.exceptions import ConnectionError as RedisConnectionError

    def refused():
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    def view(request):
        after_response.defer(functools.partial(refused))
        return HttpResponse("ok")

    response = after_response.AfterResponseMiddleware(view)(RequestFactory().get("/"))
    with caplog.at_level(logging.WARNING):
        _server_closes(response)

    (record,) = [r for r in caplog.records if r.name == "events.after_response"]
    # Named as a reader knows it, not as "functools.partial(<function … at 0x7f…>, …)".
    assert record.getMessage() == (
        "tests.test_after_response.test_a_redis_outage_is_one_line_per_task_not_a_traceback."
        "<locals>.refused, deferred until after the response, failed: Redis did not answer "
        "(ConnectionError)"
    )
    assert record.exc_info is None


def test_deferred_work_still_runs_under_the_request_id():
    seen = []

    def view(request):
        after_response.defer(lambda: seen.append(request_ids.current_request_id()))
        return HttpResponse("ok")

    request = RequestFactory().get("/")
    request.request_id = "req-after-2"
    _server_closes(after_response.AfterResponseMiddleware(view)(request))

    assert seen == ["req-after-2"]


def test_a_page_view_through_the_whole_stack_is_audited_and_counted(
    staff_client,
    lookup_event,  # noqa: F811 (fixture)
):
    staff_client.get(reverse("events:detail", args=[SMS_ID]))
    staff_client.get(reverse("events:status", args=[SMS_ID]), headers={"HX-Request": "true"})

    assert LookupAudit.objects.get().event_id == SMS_ID
    assert upstream.read_counters()["polls_served"] == 1
