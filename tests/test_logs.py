import logging
from collections.abc import Iterator
from unittest import mock

import pytest
import responses
from django.urls import reverse

from events.logs import ClientFaultFilter
from tests.conftest import TEST_API_BASE

EVENT_ID = "evt-down-1"


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.addFilter(ClientFaultFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def django_log() -> Iterator[_Kept]:
    """The records Django's loggers pass to the console handler, through its filter."""
    handler = _Kept()
    logger = logging.getLogger("django")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def test_a_page_saying_leadping_is_failing_is_logged_as_a_warning(staff_client, django_log):
    with responses.RequestsMock() as upstream:
        upstream.get(f"{TEST_API_BASE}/events/{EVENT_ID}/detail", status=500)
        response = staff_client.get(reverse("events:detail", args=[EVENT_ID]))
    assert response.status_code == 503
    [logged] = [record for record in django_log.records if record.name == "django.request"]
    assert logged.levelname == "WARNING"
    assert "Service Unavailable" in logged.getMessage()


def test_a_forged_host_header_is_one_warning_line_without_a_traceback(client, django_log):
    response = client.get(reverse("healthz"), headers={"Host": "evil.example"})
    assert response.status_code == 400
    [logged] = [r for r in django_log.records if r.name == "django.security.DisallowedHost"]
    assert logged.levelname == "WARNING"
    assert logged.exc_info is None
    assert "evil.example" in logged.getMessage()


def test_a_permission_denied_is_one_warning_line_without_a_traceback(staff_client, django_log):
    # A Support user opening the audit trail: their own fault, nothing for operators to read.
    assert staff_client.get(reverse("events:audit")).status_code == 403
    [logged] = [r for r in django_log.records if r.name == "django.request"]
    assert logged.levelname == "WARNING"
    assert logged.exc_info is None
    assert "Forbidden" in logged.getMessage()


def test_an_export_refused_while_others_run_is_a_warning(team_admin_client, django_log):
    running = [team_admin_client.get(reverse("events:audit_export")) for _ in range(2)]
    assert team_admin_client.get(reverse("events:audit_export")).status_code == 503
    [logged] = [r for r in django_log.records if r.name == "django.request"]
    assert logged.levelname == "WARNING"
    for response in running:
        response.close()


def test_a_failing_readiness_probe_is_a_warning(client, django_log):
    # A probe every few seconds during a Redis outage filled the log with ERROR lines.
    with mock.patch("events.health._check_cache", return_value="error (ConnectionError)"):
        assert client.get(reverse("readyz")).status_code == 503
    # The failing check's own WARNING says it; Django's "Service Unavailable" would repeat it.
    assert [r for r in django_log.records if r.name == "django.request"] == []


def test_a_failure_the_view_did_not_expect_stays_an_error(rf):
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "boom", None, None)
    record.request = rf.get("/")
    assert ClientFaultFilter().filter(record)
    assert record.levelname == "ERROR"


def test_the_console_handler_filters_every_record():
    filters = [f for handler in logging.getLogger().handlers for f in handler.filters]
    assert any(isinstance(f, ClientFaultFilter) for f in filters)
