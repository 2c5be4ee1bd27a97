import contextlib
import io
import json
import logging
import sys
from collections.abc import Iterator
from unittest import mock

import pytest
import responses
from django.db import OperationalError
from django.test import RequestFactory
from django.urls import reverse

from events import services
from events.logs import REDACTED, JsonFormatter, PlainFormatter, RequestIdFilter, redact
from events.request_ids import (
    bound_request_id,
    current_request_id,
    is_valid_request_id,
    server_error,
    upstream_headers,
)
from tests.conftest import TEST_API_BASE, TEST_API_KEY, payload

SMS_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
PLAIN_FORMAT = "%(levelname)s %(name)s [%(request_id)s]: %(message)s"


@contextlib.contextmanager
def _written_by(name: str) -> Iterator[io.StringIO]:
    """What logger `name` writes, formatted as settings.LOGGING formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(PlainFormatter(PLAIN_FORMAT))
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    previous_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


@pytest.fixture
def desk_log():
    """What the desk's loggers write."""
    with _written_by("events") as stream:
        yield stream


@pytest.fixture
def upstream_mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock_:
        mock_.get(f"{TEST_API_BASE}/events/{SMS_ID}/detail", json=payload("sms_delivered.json"))
        yield mock_


# --- the ID -------------------------------------------------------------------------------


def test_every_response_carries_a_fresh_request_id(client):
    first = client.get(reverse("healthz"))
    second = client.get(reverse("healthz"))
    assert is_valid_request_id(first["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_client_supplied_request_id_is_ignored_by_default(client):
    response = client.get(reverse("healthz"), headers={"X-Request-ID": "from-the-client"})
    assert response["X-Request-ID"] != "from-the-client"


def test_a_trusted_proxy_request_id_is_kept(client, settings):
    settings.TRUST_REQUEST_ID_HEADER = True
    response = client.get(reverse("healthz"), headers={"X-Request-ID": "lb-1234.abc_DEF"})
    assert response["X-Request-ID"] == "lb-1234.abc_DEF"


@pytest.mark.parametrize(
    "offered",
    ["x" * 65, "has space", "semi;colon", "new\nline", "ünïcode", "<script>", ""],
)
def test_a_malformed_request_id_is_replaced_even_when_trusted(client, settings, offered):
    settings.TRUST_REQUEST_ID_HEADER = True
    response = client.get(reverse("healthz"), HTTP_X_REQUEST_ID=offered)
    assert response["X-Request-ID"] != offered
    assert is_valid_request_id(response["X-Request-ID"])


def test_the_request_id_is_on_the_request_and_in_every_template(staff_client, upstream_mock):
    response = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    assert response.status_code == 200
    assert response.wsgi_request.request_id == response["X-Request-ID"]
    assert response.context["request_id"] == response["X-Request-ID"]


def test_the_request_id_is_cleared_after_the_request(client):
    client.get(reverse("healthz"))
    assert current_request_id() is None


def test_the_500_page_gets_the_request_id(staff_client):
    staff_client.raise_request_exception = False
    with mock.patch.object(services, "lookup_event", side_effect=RuntimeError("boom")):
        response = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    assert response.status_code == 500
    assert response.context["request_id"] == response["X-Request-ID"]
    # Shown, so that whoever reports the error can quote it and the log line be found.
    assert f"<code>{response['X-Request-ID']}</code>" in response.content.decode()


def test_a_database_that_refuses_connections_is_a_503_to_wait_out_not_a_500(staff_client):
    staff_client.raise_request_exception = False
    refused = OperationalError("FATAL: sorry, too many clients already")
    with mock.patch.object(services, "lookup_event", side_effect=refused):
        response = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert "cannot reach its database" in response.content.decode()
    assert "too many clients" not in response.content.decode()


def test_a_poll_that_meets_a_refusing_database_gets_a_sentence_not_a_page(staff_client):
    """desk.js shows a failed poll's body as the panel's note: it must be text, not markup."""
    staff_client.raise_request_exception = False
    refused = OperationalError("FATAL: sorry, too many clients already")
    with mock.patch.object(services, "lookup_event", side_effect=refused):
        response = staff_client.get(
            reverse("events:status", args=[SMS_ID]), headers={"HX-Request": "true"}
        )
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == "The desk cannot reach its database right now."


def test_the_500_handler_renders_without_a_request_id():
    request = RequestFactory().get("/")
    assert server_error(request).status_code == 500


# --- upstream -----------------------------------------------------------------------------


def test_the_request_id_is_sent_to_leadping(staff_client, upstream_mock):
    response = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    sent = upstream_mock.calls[0].request.headers
    assert sent["X-Request-ID"] == response["X-Request-ID"]
    assert sent["Authorization"] == f"Bearer {TEST_API_KEY}"


def test_no_request_id_header_goes_upstream_outside_a_request():
    assert upstream_headers() == {}
    with bound_request_id("job-7"):
        assert upstream_headers() == {"X-Request-ID": "job-7"}
    assert upstream_headers() == {}


# --- logs ---------------------------------------------------------------------------------


def test_log_lines_written_during_a_request_carry_its_id(staff_client, upstream_mock, desk_log):
    response = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    lines = [line for line in desk_log.getvalue().splitlines() if "leadping GET" in line]
    assert lines
    assert all(f"[{response['X-Request-ID']}]" in line for line in lines)


def test_log_lines_outside_a_request_show_a_dash(desk_log):
    logging.getLogger("events.test").warning("no request here")
    assert "[-]: no request here" in desk_log.getvalue()


def test_the_api_key_never_reaches_the_log(staff_client, upstream_mock, desk_log):
    staff_client.get(reverse("events:detail", args=[SMS_ID]))
    logging.getLogger("events.test").error("sent Authorization: Bearer %s", TEST_API_KEY)
    try:
        raise ValueError(f"key={TEST_API_KEY}")
    except ValueError:
        logging.getLogger("events.test").exception("failed")
    written = desk_log.getvalue()
    assert TEST_API_KEY not in written
    assert REDACTED in written


def test_the_metrics_token_and_any_bearer_credential_are_redacted(settings):
    settings.METRICS_TOKEN = "metrics-token-0123456789"
    text = redact("token metrics-token-0123456789 and Authorization: bearer abc.def-123")
    assert "metrics-token-0123456789" not in text
    assert "abc.def-123" not in text
    assert text.count(REDACTED) == 2


def test_json_log_lines_are_one_json_object_each():
    formatter = JsonFormatter()
    record = logging.LogRecord(
        "events.services", logging.WARNING, __file__, 1, "lookup %s failed", ("abc",), None
    )
    with bound_request_id("rid-42"):
        RequestIdFilter().filter(record)
    line = formatter.format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "events.services"
    assert entry["message"] == "lookup abc failed"
    assert entry["request_id"] == "rid-42"
    assert entry["time"].endswith("+00:00")


def test_gunicorns_access_line_carries_the_request_id_it_answered_with():
    """Written outside the request, its JSON line said "request_id": "-" (the ID was only
    inside the message)."""
    atoms = {"r": "GET /healthz HTTP/1.1", "{x-request-id}o": "f3a1c2"}
    record = logging.LogRecord(
        "gunicorn.access",
        logging.INFO,
        __file__,
        1,
        '"%(r)s" request_id=%({x-request-id}o)s',
        None,
        None,
    )
    record.args = atoms  # as gunicorn logs it: a mapping of its atoms
    entry = json.loads(JsonFormatter().format(record))
    assert entry["request_id"] == "f3a1c2"
    assert entry["message"] == '"GET /healthz HTTP/1.1" request_id=f3a1c2'


def test_json_log_lines_redact_the_api_key_in_tracebacks():
    try:
        raise RuntimeError(f'header "Bearer {TEST_API_KEY}" rejected: {TEST_API_KEY}')
    except RuntimeError:
        record = logging.LogRecord(
            "events", logging.ERROR, __file__, 1, "boom %s", (TEST_API_KEY,), sys.exc_info()
        )
    entry = json.loads(JsonFormatter().format(record))
    assert TEST_API_KEY not in json.dumps(entry)
    assert REDACTED in entry["exception"]


def test_djangos_line_about_an_error_answer_carries_the_request_id(staff_client):
    with _written_by("django.request") as stream:
        response = staff_client.get("/events/not%20an%20id/")
    assert response.status_code == 400
    assert f"[{response['X-Request-ID']}]: Bad Request: /events/not an id/" in stream.getvalue()
