import json
from io import StringIO

import pytest
import responses
from django.core.management import CommandError, call_command

from events.management.commands.leadping_event import (
    EXIT_INVALID_ID,
    EXIT_NOT_FOUND,
    EXIT_UPSTREAM,
    json_terminal_safe,
    terminal_safe,
)
from tests.conftest import TEST_API_BASE, payload, payload_text

SMS_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


def url(event_id: str) -> str:
    return f"{TEST_API_BASE}/events/{event_id}/detail"


@pytest.fixture
def upstream_mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("leadping_event", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_prints_a_readable_summary(upstream_mock):
    upstream_mock.get(url(SMS_ID), json=payload("sms_delivered.json"))
    out, _ = run(SMS_ID)
    assert f"Event {SMS_ID}" in out
    assert "SMS, Outbound, SmsSent" in out
    assert "Completed" in out
    assert "+1 415-555-0132 (United States)" in out
    assert "+44 20 7946 0958 (United Kingdom)" in out
    assert "Ana Lima (usr-42)" in out
    assert "Timeline:" in out
    assert "Delivered  (+7 s)" in out
    assert "Fresh from LeadPing." in out


def test_it_prints_the_json_as_leadping_sent_it(upstream_mock):
    upstream_mock.get(url(SMS_ID), json=payload("sms_delivered.json"))
    out, _ = run(SMS_ID, "--json")
    assert json.loads(out) == payload("sms_delivered.json")


def test_it_goes_through_the_cache_like_the_desk(upstream_mock):
    upstream_mock.get(url(SMS_ID), json=payload("sms_delivered.json"))
    run(SMS_ID)
    out, _ = run(SMS_ID)
    assert len(upstream_mock.calls) == 1
    assert "From the desk's cache" in out


def test_it_sends_a_request_id_upstream(upstream_mock):
    upstream_mock.get(url(SMS_ID), json=payload("sms_delivered.json"))
    run(SMS_ID)
    assert upstream_mock.calls[0].request.headers["X-Request-ID"]


def test_an_invalid_id_exits_2_without_calling_leadping(upstream_mock):
    with pytest.raises(CommandError, match="is not an event ID") as raised:
        run("../admin")
    assert raised.value.returncode == EXIT_INVALID_ID
    assert len(upstream_mock.calls) == 0


def test_an_unknown_event_exits_3(upstream_mock):
    upstream_mock.get(url("evt-gone"), status=404, body=payload_text("problem_404.json"))
    with pytest.raises(CommandError, match="LeadPing has no event with this ID") as raised:
        run("evt-gone")
    assert raised.value.returncode == EXIT_NOT_FOUND


def test_an_upstream_failure_exits_4_with_leadpings_reason(upstream_mock, settings):
    settings.LEADPING_MAX_RETRIES = 0
    upstream_mock.get(url("evt-err"), status=500, body=payload_text("problem_500.json"))
    with pytest.raises(CommandError, match=r"HTTP 500") as raised:
        run("evt-err")
    assert raised.value.returncode == EXIT_UPSTREAM
    assert "request ID" in str(raised.value)


def test_a_spent_budget_exits_4_and_says_when_to_retry(upstream_mock, settings):
    settings.LEADPING_BUDGET_CALLS = settings.LEADPING_BUDGET_BURST = 1
    upstream_mock.get(url(SMS_ID), json=payload("sms_delivered.json"))
    run(SMS_ID)
    with pytest.raises(CommandError, match="Try again in") as raised:
        run("evt-other")
    assert raised.value.returncode == EXIT_UPSTREAM


def test_terminal_escapes_from_leadping_are_shown_escaped(upstream_mock):
    hostile = {
        **payload("sms_delivered.json"),
        "summary": "\x1b]0;owned\x07 invoice-\u202efdp.exe \x9b31m",
        "description": "line one\u2028line two",
    }
    upstream_mock.get(url(SMS_ID), json=hostile)
    out, _ = run(SMS_ID)
    for dangerous in ("\x1b", "\x07", "\u202e", "\x9b", "\u2028"):
        assert dangerous not in out
    # Control characters and the bidirectional override are replaced when the answer is
    # read (events/detail.py), as on the page.
    assert "\ufffd]0;owned\ufffd invoice-\ufffdfdp.exe \ufffd31m" in out


def test_long_fields_are_cut_in_the_summary_but_not_in_the_json(upstream_mock):
    upstream_mock.get(url(SMS_ID), json={**payload("sms_delivered.json"), "summary": "x" * 5000})
    out, _ = run(SMS_ID)
    assert "x" * 401 not in out
    assert "4600 more characters" in out
    out, _ = run(SMS_ID, "--json")
    assert json.loads(out)["summary"] == "x" * 5000


def test_the_json_output_escapes_them_and_stays_the_same_json(upstream_mock):
    hostile = {**payload("sms_delivered.json"), "summary": "a\u202eb\x9bc\x1bd"}
    upstream_mock.get(url(SMS_ID), json=hostile)
    out, _ = run(SMS_ID, "--json")
    assert "\u202e" not in out
    assert "\x9b" not in out
    assert "\x1b" not in out
    assert json.loads(out)["summary"] == "a\u202eb\x9bc\x1bd"


def test_terminal_safe_leaves_ordinary_text_alone():
    assert terminal_safe("Zoë O'Brien — 東京 +44") == "Zoë O'Brien — 東京 +44"
    assert json_terminal_safe('{\n  "a": "é"\n}') == '{\n  "a": "é"\n}'
