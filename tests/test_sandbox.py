"""The LeadPing sandbox speaks the contract of `GET /events/{eventId}/detail` over real HTTP."""

import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from events.detail import LIFECYCLE_FIELDS, parse_event_detail, parse_timestamp
from events.sandbox.catalogue import DEMO_EVENTS, HOSTILE_ID, LIVE_DEMO_ID, build_catalogue
from events.sandbox.server import RATE_LIMITED_BODY, SandboxServer, start_in_thread

KEY = "lp_test_sandbox_key"
AUTH = {"Authorization": f"Bearer {KEY}"}
LIVE_SECONDS = 0.9
TIMELINE_TYPES = {
    "Message",
    "Sms",
    "Mms",
    "Call",
    "Voicemail",
    "Note",
    "Disposition",
    "LeadCreated",
    "LeadUpdated",
    "Notification",
    "Payment",
    "Warmup",
}
STATUSES = {"Pending", "InProgress", "Completed", "Failed", "Cancelled"}
REQUIRED_FIELDS = ("eventType", "userId", "id", "createdAt")
MALFORMED_ID = "1cf5ea64-67a9-4836-9859-24fc3ee79a3f"
CATALOGUE_IDS = sorted(build_catalogue(datetime.now(UTC)))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    server = start_in_thread(api_key=KEY, live_seconds=LIVE_SECONDS)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def served(sandbox: SandboxServer) -> dict[str, dict[str, Any]]:
    """Every catalogue event as the sandbox serves it."""
    with requests.Session() as session:
        return {
            event_id: session.get(detail_url(sandbox, event_id), headers=AUTH, timeout=5).json()
            for event_id in CATALOGUE_IDS
        }


def detail_url(sandbox: SandboxServer, event_id: str) -> str:
    return f"{sandbox.base_url}/events/{event_id}/detail"


def fetch(
    sandbox: SandboxServer,
    event_id: str,
    *,
    headers: dict[str, str] = AUTH,
    timeout: float | tuple[float, float] = 5,
) -> requests.Response:
    return requests.get(detail_url(sandbox, event_id), headers=headers, timeout=timeout)


def raw_exchange(sandbox: SandboxServer, request: bytes) -> bytes:
    """Send raw bytes on a new connection and read until the server closes it."""
    host, port = sandbox.base_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(request)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def timeline_type(payload: dict[str, Any]) -> Any:
    return payload.get("timelineType", payload.get("activityType"))


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


# --- Authentication, paths and methods ----------------------------------------------------


def test_it_returns_401_without_a_bearer_key(sandbox: SandboxServer) -> None:
    response = fetch(sandbox, CATALOGUE_IDS[0], headers={})

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer resource_metadata="{sandbox.base_url}/.well-known/oauth-protected-resource"'
    )


@pytest.mark.parametrize(
    "authorization",
    ["Bearer lp_wrong", f"bearer {KEY}", f"Basic {KEY}", KEY, f"Bearer {KEY}x", "Bearer clé"],
)
def test_it_returns_401_for_anything_but_the_exact_bearer_key(
    sandbox: SandboxServer, authorization: str
) -> None:
    response = fetch(sandbox, CATALOGUE_IDS[0], headers={"Authorization": authorization})

    body = assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith('Bearer resource_metadata="')
    assert KEY not in json.dumps(body)


def test_it_serves_the_resource_metadata_the_401_points_to(sandbox: SandboxServer) -> None:
    response = requests.get(f"{sandbox.base_url}/.well-known/oauth-protected-resource", timeout=5)

    assert response.status_code == 200
    assert response.json()["resource"] == sandbox.base_url


def test_it_returns_404_problem_for_an_unknown_event(sandbox: SandboxServer) -> None:
    assert_problem(fetch(sandbox, "00000000-0000-0000-0000-000000000000"), 404)


@pytest.mark.parametrize(
    "path",
    ["/", "/events/x", "/events//detail", "/events/a/b/detail", "/v1/events/x/detail", "/x" * 500],
)
def test_it_returns_404_problem_for_an_unknown_path(sandbox: SandboxServer, path: str) -> None:
    assert_problem(requests.get(sandbox.base_url + path, headers=AUTH, timeout=5), 404)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/events/live-demo/detail", "GET"),
        ("PUT", "/events/live-demo/detail", "GET"),
        ("DELETE", "/events/live-demo/detail", "GET"),
        ("PATCH", "/events/live-demo/detail", "GET"),
        ("POST", "/_sandbox/stats", "GET"),
        ("GET", "/_sandbox/reset", "POST"),
    ],
)
def test_it_returns_405_for_other_methods(
    sandbox: SandboxServer, method: str, path: str, allowed: str
) -> None:
    response = requests.request(method, sandbox.base_url + path, headers=AUTH, timeout=5)

    assert_problem(response, 405)
    assert response.headers["Allow"] == allowed


def test_it_percent_decodes_the_event_id(sandbox: SandboxServer) -> None:
    response = fetch(sandbox, "%68ostile%2Dpayloads")

    assert response.status_code == 200
    assert response.json()["id"] == HOSTILE_ID


def test_it_answers_malformed_requests_and_keeps_serving(sandbox: SandboxServer) -> None:
    huge_path = b"GET /events/" + b"a" * 70_000 + b"/detail HTTP/1.1\r\nHost: x\r\n\r\n"
    odd_bytes = (
        b"GET /events/\xff\xfe%00%ZZ/detail HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )

    assert raw_exchange(sandbox, huge_path).startswith(b"HTTP/1.1 414 ")
    assert raw_exchange(sandbox, odd_bytes).startswith(b"HTTP/1.1 401 ")
    assert raw_exchange(sandbox, b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert raw_exchange(sandbox, b"\x00\x01\xff\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert raw_exchange(sandbox, b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n").startswith(
        b"HTTP/1.1 501 "
    )
    assert fetch(sandbox, CATALOGUE_IDS[0]).status_code == 200


def test_it_reads_a_request_body_so_the_next_request_on_the_connection_works(
    sandbox: SandboxServer,
) -> None:
    connection = http.client.HTTPConnection(sandbox.base_url.removeprefix("http://"), timeout=5)
    connection.request("POST", f"/events/{CATALOGUE_IDS[0]}/detail", body=b"x" * 5000)
    refused = connection.getresponse()
    refused.read()
    assert refused.status == 405
    first_socket = connection.sock

    connection.request("GET", f"/events/{CATALOGUE_IDS[0]}/detail", headers=AUTH)
    response = connection.getresponse()

    assert response.status == 200
    assert json.loads(response.read())["id"] == CATALOGUE_IDS[0]
    assert connection.sock is first_socket
    connection.close()


# --- Catalogue events ---------------------------------------------------------------------


def test_it_serves_a_catalogue_event_as_json_with_the_four_required_fields(
    sandbox: SandboxServer,
) -> None:
    response = fetch(sandbox, CATALOGUE_IDS[0])

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Content-Length"] == str(len(response.content))
    assert response.headers["Server"] == "LeadPingSandbox/1"
    payload = response.json()
    assert all(payload[name] for name in REQUIRED_FIELDS)
    assert payload["id"] == CATALOGUE_IDS[0]


def test_every_catalogue_event_has_the_four_required_fields(
    served: dict[str, dict[str, Any]],
) -> None:
    assert len(served) >= 14
    for event_id, payload in served.items():
        assert all(isinstance(payload.get(name), str) for name in REQUIRED_FIELDS), event_id
        assert payload["id"] == event_id
        assert "lp_" not in json.dumps(payload)


def test_the_catalogue_covers_every_timeline_type(served: dict[str, dict[str, Any]]) -> None:
    assert TIMELINE_TYPES - {timeline_type(payload) for payload in served.values()} == set()


def test_the_catalogue_covers_every_status_and_both_directions(
    served: dict[str, dict[str, Any]],
) -> None:
    assert STATUSES - {payload.get("status") for payload in served.values()} == set()
    assert {"Inbound", "Outbound"} - {
        payload.get("direction") for payload in served.values()
    } == set()


def test_the_catalogue_has_international_and_unparseable_phone_numbers(
    served: dict[str, dict[str, Any]],
) -> None:
    numbers = {
        payload.get(name)
        for payload in served.values()
        for name in ("fromPhoneNumber", "toPhoneNumber")
    }

    for country_code in ("+44", "+33", "+49", "+81", "+55"):
        assert any(isinstance(n, str) and n.startswith(country_code) for n in numbers)
    assert {"ext. 12", "555-CALL-NOW", ""} <= numbers


@pytest.mark.parametrize("timestamp", ["failedAt", "undeliverableAt", "blockedAt", "canceledAt"])
def test_each_failure_outcome_has_an_event_with_its_timestamp_and_a_reason(
    served: dict[str, dict[str, Any]], timestamp: str
) -> None:
    matching = [p for p in served.values() if p.get(timestamp) and p.get("statusReason")]

    assert matching
    assert all(p["status"] in {"Failed", "Cancelled"} for p in matching)


def test_a_pending_event_is_scheduled_two_days_after_the_sandbox_started(
    sandbox: SandboxServer, served: dict[str, dict[str, Any]]
) -> None:
    scheduled = [p for p in served.values() if p.get("scheduledFor")]

    assert len(scheduled) == 1
    assert scheduled[0]["status"] == "Pending"
    when = parse_timestamp(scheduled[0]["scheduledFor"])
    assert when is not None
    assert abs(when - sandbox.started_at - timedelta(days=2)) < timedelta(seconds=2)


def test_one_event_uses_the_activity_type_and_activity_category_names(
    served: dict[str, dict[str, Any]],
) -> None:
    aliased = [p for p in served.values() if "activityType" in p]

    assert len(aliased) == 1
    assert "timelineType" not in aliased[0]
    assert "timelineCategory" not in aliased[0]
    assert aliased[0]["activityCategory"]


def test_one_event_carries_its_full_payload_as_a_json_string(
    served: dict[str, dict[str, Any]],
) -> None:
    full_payloads = [
        p["fullPayload"] for p in served.values() if p.get("fullPayload") and p["id"] != HOSTILE_ID
    ]

    assert len(full_payloads) == 1
    assert isinstance(json.loads(full_payloads[0])["changes"], dict)


def test_one_event_has_no_status_field(served: dict[str, dict[str, Any]]) -> None:
    assert [p for p in served.values() if "status" not in p]


def test_one_event_sets_only_the_four_required_fields(served: dict[str, dict[str, Any]]) -> None:
    sparse = [
        p
        for p in served.values()
        if {k for k, v in p.items() if v is not None} == set(REQUIRED_FIELDS)
    ]

    assert len(sparse) == 1


def test_one_event_has_enum_values_the_reference_does_not_list(
    served: dict[str, dict[str, Any]],
) -> None:
    unknown = [p for p in served.values() if p.get("timelineType") == "Fax"]

    assert len(unknown) == 1
    assert unknown[0]["status"] == "Throttled"


def test_one_event_has_an_unreadable_timestamp_and_wrongly_typed_fields(
    served: dict[str, dict[str, Any]],
) -> None:
    malformed = served[MALFORMED_ID]

    assert malformed["sentAt"] == "yesterday-ish"
    assert malformed["summary"] == 42
    assert malformed["user"] == "bob"
    detail = parse_event_detail(malformed, requested_id=MALFORMED_ID)
    assert set(detail.problems) == {"sentAt", "user"}
    # .NET's DateTime.MinValue reads as a time never set.
    assert malformed["deliveredAt"] == "0001-01-01T00:00:00"
    assert detail.delivered_at is None


def test_the_hostile_event_holds_injection_payloads_in_every_string_field(
    served: dict[str, dict[str, Any]],
) -> None:
    hostile = served[HOSTILE_ID]
    text = json.dumps(hostile, ensure_ascii=False)

    assert "<script>alert(1)</script>" in hostile["eventType"]
    assert '"><img src=x onerror=alert(1)>' in text
    assert hostile["fromPhoneNumber"] == "javascript:alert(1)"
    assert "{{ 7*7 }}" in hostile["description"]
    assert "\u202e" in text
    assert len(hostile["summary"]) == 5000
    benign = {"id", *LIFECYCLE_FIELDS.values()}
    strings = [v for k, v in hostile.items() if isinstance(v, str) and k not in benign]
    assert all(any(ch in v for ch in "<>{}'\"\u202e\x1b:%") for v in strings)


def test_catalogue_timestamps_parse_except_the_deliberately_broken_ones(
    served: dict[str, dict[str, Any]],
) -> None:
    for event_id, payload in served.items():
        if event_id == MALFORMED_ID:
            continue
        for name in LIFECYCLE_FIELDS.values():
            if payload.get(name) is not None:
                assert payload[name].endswith("Z"), (event_id, name)
                assert parse_timestamp(payload[name]) is not None, (event_id, name)


def test_lifecycle_timestamps_are_in_order_and_before_the_sandbox_started(
    sandbox: SandboxServer, served: dict[str, dict[str, Any]]
) -> None:
    order = ["createdAt", "queuedAt", "sendingStartedAt", "sentAt", "deliveredAt"]
    for event_id, payload in served.items():
        if event_id == MALFORMED_ID:
            continue
        moments = [parse_timestamp(payload[n]) for n in order if payload.get(n)]
        assert moments == sorted(moments), event_id
        assert all(m < sandbox.started_at for m in moments if m), event_id


def test_every_catalogue_event_other_than_the_malformed_one_parses_cleanly(
    served: dict[str, dict[str, Any]],
) -> None:
    for event_id, payload in served.items():
        detail = parse_event_detail(payload, requested_id=event_id)
        assert detail.id == event_id
        assert detail.problems == () or event_id == MALFORMED_ID


def test_demo_events_list_the_live_event_first_then_every_catalogue_event() -> None:
    ids = [event_id for event_id, _ in DEMO_EVENTS]

    assert ids[0] == LIVE_DEMO_ID
    assert sorted(ids[1:]) == CATALOGUE_IDS
    assert all(label and "\n" not in label for _, label in DEMO_EVENTS)


# --- Live events --------------------------------------------------------------------------


def test_a_live_event_goes_from_pending_to_in_progress_to_completed() -> None:
    # A sandbox of its own, with thirds of a second each: the event's clock starts while the
    # first fetch is answered, so each later fetch is timed from that answer's arrival, and
    # a loaded machine (a slow first answer) cannot make it land in the wrong third.
    third = 1.0
    with start_in_thread(api_key=KEY, live_seconds=3 * third) as sandbox:
        event_id = f"live-{uuid.uuid4().hex}"
        pending = fetch(sandbox, event_id).json()
        answered = time.monotonic()
        time.sleep(third)
        in_progress = fetch(sandbox, event_id).json()
        time.sleep(max(0, answered + 2 * third - time.monotonic()))
        completed = fetch(sandbox, event_id).json()

    assert [pending["status"], in_progress["status"], completed["status"]] == [
        "Pending",
        "InProgress",
        "Completed",
    ]
    assert pending["queuedAt"] == pending["createdAt"] == completed["createdAt"]
    assert pending["sendingStartedAt"] is None
    assert in_progress["sendingStartedAt"] and in_progress["sentAt"] is None
    assert completed["sentAt"] and completed["deliveredAt"]
    assert completed["modifiedAt"] == completed["deliveredAt"]
    assert completed["statusReason"] is None
    assert (completed["timelineType"], completed["direction"]) == ("Sms", "Outbound")
    for name in LIFECYCLE_FIELDS.values():
        if completed.get(name):
            assert parse_timestamp(completed[name]) is not None


def test_live_ids_are_made_on_demand_only_when_they_fit_the_pattern(
    sandbox: SandboxServer,
) -> None:
    assert fetch(sandbox, LIVE_DEMO_ID).json()["id"] == LIVE_DEMO_ID
    assert fetch(sandbox, "live-Browser_test-1").json()["status"] == "Pending"
    assert fetch(sandbox, "live-" + "a" * 64).status_code == 200
    assert fetch(sandbox, "live-" + "a" * 65).status_code == 404
    assert fetch(sandbox, "live-").status_code == 404
    assert fetch(sandbox, "live-a.b").status_code == 404


def test_reset_restarts_the_live_clocks() -> None:
    with start_in_thread(api_key=KEY, live_seconds=0.15) as short_lived:
        fetch(short_lived, LIVE_DEMO_ID)
        time.sleep(0.2)
        assert fetch(short_lived, LIVE_DEMO_ID).json()["status"] == "Completed"

        requests.post(f"{short_lived.base_url}/_sandbox/reset", timeout=5)

        assert fetch(short_lived, LIVE_DEMO_ID).json()["status"] == "Pending"


# --- Special ids --------------------------------------------------------------------------


def test_sandbox_429_answers_the_documented_rate_limit_body(sandbox: SandboxServer) -> None:
    response = fetch(sandbox, "sandbox-429")

    assert response.status_code == 429
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Retry-After"] == "17"
    assert response.content == (
        b'{"status": 429, "title": "Too many requests.", '
        b'"detail": "The API rate limit for this account has been exceeded."}'
    )


def test_sandbox_429_no_header_answers_429_without_retry_after(sandbox: SandboxServer) -> None:
    response = fetch(sandbox, "sandbox-429-no-header")

    assert response.status_code == 429
    assert "Retry-After" not in response.headers
    assert response.content == RATE_LIMITED_BODY


@pytest.mark.parametrize(("event_id", "status"), [("sandbox-500", 500), ("sandbox-forbidden", 403)])
def test_special_ids_answer_problem_details(
    sandbox: SandboxServer, event_id: str, status: int
) -> None:
    assert_problem(fetch(sandbox, event_id), status)


def test_sandbox_503_html_answers_a_proxy_error_page(sandbox: SandboxServer) -> None:
    response = fetch(sandbox, "sandbox-503-html")

    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("text/html")
    assert b"<html>" in response.content


def test_sandbox_not_json_answers_200_with_html(sandbox: SandboxServer) -> None:
    response = fetch(sandbox, "sandbox-not-json")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        response.json()


def test_sandbox_array_answers_200_with_an_empty_json_array(sandbox: SandboxServer) -> None:
    response = fetch(sandbox, "sandbox-array")

    assert response.status_code == 200
    assert response.json() == []


def test_special_ids_still_need_the_key(sandbox: SandboxServer) -> None:
    assert fetch(sandbox, "sandbox-500", headers={}).status_code == 401


def test_sandbox_slow_keeps_the_client_waiting(sandbox: SandboxServer) -> None:
    with pytest.raises(requests.ReadTimeout):
        fetch(sandbox, "sandbox-slow", timeout=(1, 0.2))


def test_sandbox_drip_sends_its_headers_then_its_body_a_byte_at_a_time(
    sandbox: SandboxServer,
) -> None:
    response = requests.get(
        detail_url(sandbox, "sandbox-drip"), headers=AUTH, timeout=5, stream=True
    )
    with response:
        assert response.status_code == 200
        assert response.headers["Content-Length"] == "4096"
        assert response.raw.read(1) == b" "


def test_sandbox_slow_answers_at_once_when_the_server_stops() -> None:
    slow_sandbox = start_in_thread(api_key=KEY)
    answers: list[requests.Response] = []
    waiting = threading.Thread(target=lambda: answers.append(fetch(slow_sandbox, "sandbox-slow")))
    waiting.start()
    time.sleep(0.1)

    started = time.monotonic()
    slow_sandbox.stop()
    waiting.join(timeout=5)

    assert time.monotonic() - started < 2
    assert answers[0].status_code == 503


# --- Rate limit, latency, counters --------------------------------------------------------


def test_past_the_rate_limit_it_answers_429_with_the_seconds_left_in_the_window() -> None:
    with start_in_thread(api_key=KEY, rate_limit=3) as limited:
        assert fetch(limited, CATALOGUE_IDS[0], headers={}).status_code == 401
        statuses = [fetch(limited, CATALOGUE_IDS[0]).status_code for _ in range(3)]
        refused = fetch(limited, CATALOGUE_IDS[0])

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.content == RATE_LIMITED_BODY
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_it_adds_the_configured_latency_to_every_answer() -> None:
    with start_in_thread(api_key=KEY, latency_ms=150) as slow:
        started = time.monotonic()
        fetch(slow, "no-such-event")

    assert time.monotonic() - started >= 0.15


def test_stats_count_detail_requests_by_status_and_event(sandbox: SandboxServer) -> None:
    requests.post(f"{sandbox.base_url}/_sandbox/reset", timeout=5)
    fetch(sandbox, CATALOGUE_IDS[0])
    fetch(sandbox, CATALOGUE_IDS[0])
    fetch(sandbox, "no-such-event")
    fetch(sandbox, "sandbox-500", headers={})

    response = requests.get(f"{sandbox.base_url}/_sandbox/stats", timeout=5)

    assert response.status_code == 200
    assert response.json() == {
        "requests": 4,
        "by_status": {"200": 2, "401": 1, "404": 1},
        "by_event": {CATALOGUE_IDS[0]: 2, "no-such-event": 1, "sandbox-500": 1},
    }


def test_reset_zeroes_the_counters(sandbox: SandboxServer) -> None:
    fetch(sandbox, CATALOGUE_IDS[0])

    response = requests.post(f"{sandbox.base_url}/_sandbox/reset", timeout=5)

    assert response.status_code == 204
    assert response.content == b""
    assert sandbox.stats() == {"requests": 0, "by_status": {}, "by_event": {}}


def test_fifty_concurrent_pollers_all_get_answers_and_are_all_counted(
    sandbox: SandboxServer,
) -> None:
    sandbox.reset()

    def poll(worker: int) -> list[int]:
        with requests.Session() as session:
            url = detail_url(sandbox, f"live-poller-{worker}")
            return [session.get(url, headers=AUTH, timeout=5).status_code for _ in range(5)]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = [status for result in pool.map(poll, range(50)) for status in result]

    assert statuses == [200] * 250
    assert time.monotonic() - started < 3
    assert sandbox.stats()["requests"] == 250


# --- The management command ---------------------------------------------------------------


def test_the_command_prints_its_address_and_exits_cleanly_on_sigterm() -> None:
    manage_py = Path(__file__).resolve().parent.parent / "manage.py"
    command = subprocess.Popen(
        [sys.executable, str(manage_py), "leadping_sandbox", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = command.stdout.readline() if command.stdout else ""
        assert line.startswith("LeadPing sandbox listening on http://127.0.0.1:")
        base_url = line.rsplit(" ", 1)[1].strip()
        assert requests.get(f"{base_url}/_sandbox/stats", timeout=5).status_code == 200

        command.send_signal(signal.SIGTERM)
        _, stderr = command.communicate(timeout=5)
    finally:
        if command.poll() is None:
            command.kill()

    assert command.returncode == 0
    assert stderr == ""
