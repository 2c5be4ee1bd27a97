import json

import pytest
import requests
import responses
from responses import matchers

from events import leadping
from events.event_ids import InvalidEventId
from tests.conftest import TEST_API_BASE, TEST_API_KEY, payload, payload_text

EVENT_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
URL = f"{TEST_API_BASE}/events/{EVENT_ID}/detail"


@pytest.fixture
def upstream():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_it_sends_the_bearer_key_a_user_agent_and_accept_json(upstream):
    upstream.get(
        URL,
        json=payload("sms_delivered.json"),
        match=[
            matchers.header_matcher(
                {"Authorization": f"Bearer {TEST_API_KEY}", "Accept": "application/json"}
            )
        ],
    )
    leadping.fetch_event_detail(EVENT_ID)
    assert upstream.calls[0].request.headers["User-Agent"].startswith("LeadPing-Event-Desk/")


def test_it_returns_a_parsed_event_detail(upstream):
    upstream.get(URL, json=payload("sms_delivered.json"))
    detail = leadping.fetch_event_detail(EVENT_ID)
    assert detail.id == EVENT_ID
    assert detail.status == "Completed"
    assert detail.timeline_type == "Sms"
    assert detail.user.name == "Ana Lima"
    assert detail.delivered_at.value.isoformat() == "2026-11-26T14:02:19+00:00"


def test_it_encodes_the_id_as_exactly_one_path_segment(upstream):
    upstream.get(f"{TEST_API_BASE}/events/msg%3A42/detail", json=payload("null_heavy.json"))
    leadping.fetch_event_detail("msg:42")
    assert upstream.calls[0].request.url == f"{TEST_API_BASE}/events/msg%3A42/detail"


@pytest.mark.parametrize(
    "bad_id",
    [
        "../admin",
        "a/b",
        "%2F",
        "a?b=1",
        "a#b",
        "user@host",
        " a",
        "a b",
        "x" * 10240,
        "évènement",
        "",
    ],
)
def test_it_never_calls_upstream_for_an_invalid_id(upstream, bad_id):
    with pytest.raises(InvalidEventId):
        leadping.fetch_event_detail(bad_id)
    assert len(upstream.calls) == 0


@pytest.mark.parametrize("status", [400, 404, 410, 422])
def test_it_raises_event_not_found_for_missing_events(upstream, status):
    upstream.get(URL, status=status, body=payload_text("problem_404.json"))
    with pytest.raises(leadping.EventNotFound):
        leadping.fetch_event_detail(EVENT_ID)


@pytest.mark.parametrize("status", [401, 403])
def test_it_raises_not_authorised_for_a_refused_key(upstream, status):
    upstream.get(
        URL,
        status=status,
        body=payload_text("problem_401.json"),
        headers={"WWW-Authenticate": 'Bearer resource_metadata="https://x"'},
    )
    with pytest.raises(leadping.NotAuthorised) as caught:
        leadping.fetch_event_detail(EVENT_ID)
    assert caught.value.status_code == status
    assert TEST_API_KEY not in str(caught.value)


def test_it_raises_rate_limited_with_the_retry_after_seconds(upstream):
    upstream.get(
        URL, status=429, body=payload_text("problem_429.json"), headers={"Retry-After": "17"}
    )
    with pytest.raises(leadping.RateLimited) as caught:
        leadping.fetch_event_detail(EVENT_ID)
    assert caught.value.retry_after == 17


def test_it_raises_rate_limited_without_a_retry_after_header(upstream):
    upstream.get(URL, status=429, body=payload_text("problem_429.json"))
    with pytest.raises(leadping.RateLimited) as caught:
        leadping.fetch_event_detail(EVENT_ID)
    assert caught.value.retry_after is None


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (500, payload_text("problem_500.json"), "application/problem+json"),
        (502, payload_text("proxy_502.html"), "text/html"),
        (503, "", "text/plain"),
        (504, "Gateway Timeout", "text/plain"),
        (408, "", "text/plain"),
    ],
)
def test_it_raises_upstream_unavailable_for_server_errors(upstream, status, body, content_type):
    upstream.get(URL, status=status, body=body, content_type=content_type)
    with pytest.raises(leadping.UpstreamUnavailable) as caught:
        leadping.fetch_event_detail(EVENT_ID)
    assert caught.value.status_code == status


@pytest.mark.parametrize(("retry_after", "retryable"), [(None, True), ("30", False)])
def test_a_503_that_says_when_to_come_back_is_not_asked_again_at_once(
    upstream, retry_after, retryable
):
    headers = {"Retry-After": retry_after} if retry_after else {}
    upstream.get(URL, status=503, body="", headers=headers)
    with pytest.raises(leadping.UpstreamUnavailable) as caught:
        leadping.fetch_event_detail(EVENT_ID)
    assert caught.value.retryable is retryable


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "LeadPing answered with an error (HTTP 500)."),
        (b'{"title": "boom"}', "LeadPing answered with an error (HTTP 500): boom."),
        (b'{"detail": "Try later."}', "LeadPing answered with an error (HTTP 500): Try later."),
    ],
)
def test_a_server_errors_message_is_one_sentence(upstream, body, message):
    """Pages follow it with more sentences ("… Showing the last copy the desk got …")."""
    upstream.get(URL, status=500, body=body, content_type="application/json")
    with pytest.raises(leadping.UpstreamUnavailable) as caught:
        leadping.fetch_event_detail(EVENT_ID)
    assert caught.value.message == message


@pytest.mark.parametrize(
    "error",
    [requests.ConnectionError("refused"), requests.ConnectTimeout(), requests.ReadTimeout()],
)
def test_it_raises_upstream_unavailable_when_the_connection_fails(upstream, error):
    upstream.get(URL, body=error)
    with pytest.raises(leadping.UpstreamUnavailable):
        leadping.fetch_event_detail(EVENT_ID)


@pytest.mark.parametrize(
    "body",
    [
        payload_text("proxy_502.html"),
        "",
        payload_text("not_an_object.json"),
        '"just a string"',
        "null",
        "{" * 100000,
        b"\xff\xfe\x00garbage",
    ],
)
def test_it_raises_bad_payload_for_a_200_it_cannot_read(upstream, body):
    upstream.get(URL, status=200, body=body, content_type="application/json")
    with pytest.raises(leadping.BadPayload):
        leadping.fetch_event_detail(EVENT_ID)


@pytest.mark.parametrize(
    "half_pair",
    [
        b"\\ud800",  # an escaped high surrogate with no low one after it
        b"\\uDFFF",  # an escaped low surrogate alone, in upper case
        b"\xed\xa0\x80",  # a surrogate encoded as UTF-8 bytes (json decodes surrogatepass)
    ],
)
def test_it_replaces_lone_surrogates_which_no_page_could_encode(upstream, half_pair):
    body = (
        b'{"id": "%s", "summary": "before %s after", "status": "Sent%s", "%s": 1, '
        b'"fullPayload": "{\\"note\\": \\"x%s\\"}"}'
        % (EVENT_ID.encode(), half_pair, half_pair, half_pair, half_pair)
    )
    upstream.get(URL, status=200, body=body, content_type="application/json")

    detail = leadping.fetch_event_detail(EVENT_ID)

    assert detail.summary == "before \ufffd after"
    assert detail.status == "Sent\ufffd"
    assert '"note": "x\ufffd"' in detail.full_payload
    # Everything the desk shows or caches can now be written as UTF-8.
    for text in (detail.summary, detail.status, detail.raw_json, detail.full_payload):
        text.encode("utf-8")


def test_a_surrogate_pair_stays_the_character_it_spells(upstream):
    body = b'{"id": "%s", "summary": "\\ud83d\\ude00"}' % EVENT_ID.encode()
    upstream.get(URL, status=200, body=body, content_type="application/json")
    assert leadping.fetch_event_detail(EVENT_ID).summary == "\N{GRINNING FACE}"


def test_an_error_detail_with_a_lone_surrogate_is_shown_replaced(upstream):
    upstream.get(URL, status=500, body=b'{"detail": "broke \\udc00 here"}')
    with pytest.raises(leadping.UpstreamUnavailable) as caught:
        leadping.fetch_event_detail(EVENT_ID)
    assert caught.value.message.endswith("broke \ufffd here.")


def test_it_refuses_an_answer_larger_than_the_cap(upstream):
    huge = '{"id": "x", "summary": "' + "a" * (leadping.MAX_BODY_BYTES + 10) + '"}'
    upstream.get(URL, status=200, body=huge, content_type="application/json")
    with pytest.raises(leadping.BadPayload):
        leadping.fetch_event_detail(EVENT_ID)


def test_it_does_not_follow_redirects(upstream):
    upstream.get(URL, status=302, headers={"Location": "https://elsewhere.test/steal"})
    with pytest.raises(leadping.BadPayload):
        leadping.fetch_event_detail(EVENT_ID)
    assert len(upstream.calls) == 1


def test_it_treats_an_unexpected_status_as_a_bad_payload(upstream):
    upstream.get(URL, status=418, body="teapot")
    with pytest.raises(leadping.BadPayload) as caught:
        leadping.fetch_event_detail(EVENT_ID)
    assert "418" in caught.value.message


def test_it_reuses_one_session_across_calls():
    assert leadping._session() is leadping._session()


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("17", 17),
        (" 17 ", 17),
        ("0", 0),
        ("2.5", 2.5),
        ("120", 120),
        ("999999999", 300),
        ("99999999999999999999999", 300),
        ("-5", None),
        ("1e9", None),
        ("inf", None),
        ("Infinity", None),
        ("1e300", None),
        ("0x10", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_it_reads_retry_after_in_seconds_and_honours_at_most_five_minutes(header, seconds):
    assert leadping.parse_retry_after(header) == seconds


def test_it_reads_retry_after_as_an_http_date():
    from datetime import UTC, datetime

    now = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
    assert leadping.parse_retry_after("Fri, 27 Nov 2026 12:00:30 GMT", now=now) == 30
    assert leadping.parse_retry_after("Fri, 27 Nov 2026 11:00:00 GMT", now=now) == 0
    assert leadping.parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now=now) == 300
    assert leadping.parse_retry_after("Mon, 01 Jan 0001 00:00:00 GMT", now=now) in (0, None)


@pytest.mark.parametrize("status", [500, 502, 504])
def test_an_error_detail_echoing_the_api_key_is_shown_without_it(upstream, status):
    upstream.get(
        URL,
        status=status,
        json={
            "title": "Upstream failure",
            "detail": f"Request had Bearer {TEST_API_KEY}, key {TEST_API_KEY}",
        },
        content_type="application/problem+json",
    )
    with pytest.raises(leadping.UpstreamUnavailable) as error:
        leadping.fetch_event_detail(EVENT_ID)
    assert TEST_API_KEY not in error.value.message
    assert "[redacted]" in error.value.message


def test_an_answer_echoing_the_api_key_is_kept_without_it(upstream):
    upstream.get(
        URL,
        json={**payload("sms_delivered.json"), "description": f"Sent with key {TEST_API_KEY}"},
    )
    detail = leadping.fetch_event_detail(EVENT_ID)
    assert detail.description == "Sent with key [redacted]"
    assert TEST_API_KEY not in detail.raw_json
    assert detail.status == "Completed"


@pytest.mark.parametrize("spelling", [str.lower, str.upper])
def test_an_answer_echoing_the_api_key_in_another_case_is_kept_without_it(upstream, spelling):
    echoed = f"Authorization: bearer {spelling(TEST_API_KEY)}"
    upstream.get(URL, json={**payload("sms_delivered.json"), "description": echoed})
    detail = leadping.fetch_event_detail(EVENT_ID)
    assert detail.description == "Authorization: bearer [redacted]"
    assert spelling(TEST_API_KEY) not in detail.raw_json


def test_an_error_detail_echoing_the_api_key_upper_cased_is_shown_without_it(upstream):
    upstream.get(
        URL,
        status=503,
        json={"title": "Unavailable", "detail": f"bad key {TEST_API_KEY.upper()}"},
        content_type="application/problem+json",
    )
    with pytest.raises(leadping.UpstreamUnavailable) as error:
        leadping.fetch_event_detail(EVENT_ID)
    assert TEST_API_KEY.upper() not in error.value.message
    assert "[redacted]" in error.value.message


def test_a_problem_document_sent_with_200_is_not_shown_as_an_event(upstream):
    upstream.get(URL, json={"status": 500, "title": "oops", "detail": "Backend is down"})
    with pytest.raises(leadping.BadPayload) as error:
        leadping.fetch_event_detail(EVENT_ID)
    assert (
        error.value.message == "LeadPing's answer holds none of an event's fields: Backend is down."
    )


def test_an_answer_nested_too_deeply_to_read_says_so(upstream):
    deep = "[" * 100_000 + "]" * 100_000
    upstream.get(URL, body=f'{{"id": "{EVENT_ID}", "extra": {deep}}}'.encode())
    with pytest.raises(leadping.BadPayload) as error:
        leadping.fetch_event_detail(EVENT_ID)
    assert error.value.message == "LeadPing's answer is nested too deeply to read."


def test_an_answer_that_cannot_be_decompressed_is_a_bad_payload_not_a_broken_connection(
    upstream,
):
    upstream.get(URL, body=b"this is not gzip", headers={"Content-Encoding": "gzip"})
    with pytest.raises(leadping.BadPayload) as error:
        leadping.fetch_event_detail(EVENT_ID)
    assert error.value.message == "LeadPing's answer could not be decompressed."


def _escaped(text: str) -> str:
    return "".join(f"\\u{ord(char):04x}" for char in text)


@pytest.mark.parametrize("key", [TEST_API_KEY, TEST_API_KEY.upper()], ids=["as-is", "upper"])
@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(
            lambda key: (
                '{"id": "x", "status": "Completed", "summary": "key ' + _escaped(key) + '"}'
            ).encode(),
            id="json-escapes",
        ),
        pytest.param(
            lambda key: json.dumps(
                {"id": "x", "status": "Completed", "summary": f"key {key}"}
            ).encode("utf-16"),
            id="utf-16",
        ),
        pytest.param(
            lambda key: json.dumps(
                {"id": "x", "status": "Completed", "fullPayload": '{"k": "' + _escaped(key) + '"}'}
            ).encode(),
            id="escaped-in-full-payload",
        ),
        pytest.param(
            lambda key: (
                '{"id": "x", "status": "Completed", "user": {"name": ["'
                + _escaped(key)
                + '"]}, "'
                + _escaped(key)
                + '": 1}'
            ).encode(),
            id="nested-and-in-a-name",
        ),
    ],
)
def test_an_answer_echoing_the_api_key_in_another_spelling_is_kept_without_it(
    upstream, encode, key
):
    upstream.get(URL, body=encode(key), content_type="application/json")
    detail = leadping.fetch_event_detail(EVENT_ID)
    for text in (detail.summary or "", detail.raw_json, detail.full_payload or ""):
        assert TEST_API_KEY.lower() not in text.lower()
    assert "[redacted]" in detail.raw_json + (detail.full_payload or "")


def test_bidirectional_controls_in_an_error_detail_are_shown_replaced(upstream):
    upstream.get(
        URL,
        status=500,
        json={"title": "Upstream failure", "detail": "see invoice-\u202efdp.exe"},
        content_type="application/problem+json",
    )
    with pytest.raises(leadping.UpstreamUnavailable) as error:
        leadping.fetch_event_detail(EVENT_ID)
    assert "\u202e" not in error.value.message
    assert "invoice-\ufffdfdp.exe" in error.value.message


def test_an_integer_too_long_for_python_leaves_the_rest_of_the_event_readable(upstream):
    """Python refuses str -> int past 4,300 digits; the JSON is still valid."""
    text = payload_text("sms_delivered.json")
    upstream.get(URL, body=text.rstrip().removesuffix("}") + ', "odd": ' + "9" * 5000 + "}")
    detail = leadping.fetch_event_detail(EVENT_ID)
    assert detail.status == "Completed"
    assert "9" * 5000 in detail.raw_json


def test_a_field_given_twice_is_shown_once_and_the_page_says_so(upstream):
    text = payload_text("sms_delivered.json")
    body = text.replace('"status": "Completed"', '"status": "Failed", "status": "Completed"')
    assert body != text
    upstream.get(URL, body=body)
    detail = leadping.fetch_event_detail(EVENT_ID)
    assert detail.status == "Completed"
    assert detail.repeated_names == ("status",)


def test_an_answer_without_repeats_names_none(upstream):
    upstream.get(URL, json=payload("sms_delivered.json"))
    assert leadping.fetch_event_detail(EVENT_ID).repeated_names == ()
