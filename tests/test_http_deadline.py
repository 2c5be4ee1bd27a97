"""The whole LeadPing exchange has a deadline, not just each socket read (events/http_deadline.py).

These use real sockets: `responses` replaces the transport, and the point is what a slow
server does to it. Each dripping server gives up by itself after DRIP_LIMIT seconds, so a
broken deadline fails these tests (with another error) rather than hanging them.
"""

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from events import leadping
from events.http_deadline import deadline
from events.sandbox.server import start_in_thread

DRIP_LIMIT = 6.0
OPENINGS = {
    # The status line, then a header that never ends.
    "headers": b"HTTP/1.1 200 OK\r\nX-Slow: ",
    # Complete headers, then a body that never arrives in full.
    "body": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9999\r\n\r\n{",
}


def _serve(settings, handle: Callable[[socket.socket], None]) -> socket.socket:
    """A local server calling `handle` on a thread per connection; LeadPing's URL points at it."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    settings.LEADPING_API_BASE_URL = f"http://127.0.0.1:{server.getsockname()[1]}"
    return server


@pytest.fixture
def dripping(request, settings) -> Iterator[None]:
    """A server answering every request with its opening, then one byte every 0.2 s."""
    opening = OPENINGS[request.param]

    def drip(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(opening)
                until = time.monotonic() + DRIP_LIMIT
                while time.monotonic() < until:
                    conn.sendall(b" ")
                    time.sleep(0.2)
            except OSError:
                pass

    server = _serve(settings, drip)
    yield
    server.close()


@pytest.mark.parametrize("dripping", ["headers", "body"], indirect=True)
def test_a_server_that_drips_is_cut_off_at_the_deadline(dripping):
    # Each byte comes well within the read timeout, so only the deadline can end this.
    with pytest.raises(leadping.UpstreamUnavailable) as caught:
        leadping.fetch_event_detail("evt-1", within=0.5)
    assert caught.value.message == "LeadPing did not finish answering in time."
    # LeadPing is answering, slowly: another call would only add to its load.
    assert not caught.value.retryable


def test_a_connection_is_not_cut_once_its_exchange_is_over(settings):
    sandbox = start_in_thread(api_key=settings.LEADPING_SANDBOX_KEY)
    settings.LEADPING_API_BASE_URL = sandbox.base_url
    settings.LEADPING_API_KEY = settings.LEADPING_SANDBOX_KEY
    try:
        event_id = "0b7c6a1e-4f2d-4c8e-9a51-3d2e8f6b1c70"
        assert leadping.fetch_event_detail(event_id, within=0.3).id == event_id
        time.sleep(0.5)  # past the first call's deadline, its connection idle in the pool
        # The next call reuses that connection, which the watchdog must have left alone.
        assert leadping.fetch_event_detail(event_id, within=5).id == event_id
    finally:
        sandbox.stop()


def test_an_exchange_that_ends_in_time_is_never_marked_expired():
    with deadline(0.05) as exchange:
        pass
    time.sleep(0.2)
    assert exchange.done
    assert not exchange.expired


def test_the_watchdog_cuts_the_earliest_deadline_first():
    with deadline(60) as late, deadline(0.05) as early:
        waited_until = time.monotonic() + 10
        while not early.expired and time.monotonic() < waited_until:
            time.sleep(0.01)
        assert early.expired
        assert not late.expired


@pytest.fixture
def stalling(settings) -> Iterator[list[float]]:
    """A server that sends its headers and the start of a body, then nothing for a while."""
    calls: list[float] = []

    def stall(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                calls.append(time.monotonic())
                conn.sendall(OPENINGS["body"])
                time.sleep(DRIP_LIMIT)
            except OSError:
                pass

    server = _serve(settings, stall)
    settings.LEADPING_READ_TIMEOUT = 0.3
    yield calls
    server.close()


def test_a_body_that_stops_past_the_read_timeout_is_not_tried_again(stalling):
    # requests raises a read timeout inside the body as a ConnectionError, not a Timeout.
    with pytest.raises(leadping.UpstreamUnavailable) as caught:
        leadping.fetch_event_detail("evt-1", within=5)
    assert caught.value.message == "LeadPing did not finish answering in time."
    assert not caught.value.retryable


def test_a_lookup_whose_answer_stalls_makes_one_call(stalling, settings):
    from events import services

    settings.LEADPING_REQUEST_DEADLINE = 5
    with pytest.raises(leadping.UpstreamUnavailable):
        services.lookup_event(event_id="evt-stall")
    assert len(stalling) == 1


def _fetch_from_a_server_sending(settings, answer: bytes) -> leadping.LeadPingError:
    """The error fetch_event_detail ends in against a server that reads the request, sends
    `answer` and hangs up."""

    def send(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(answer)

    server = _serve(settings, send)
    try:
        with pytest.raises(leadping.LeadPingError) as caught:
            leadping.fetch_event_detail("evt-1")
    finally:
        server.close()
    return caught.value


@pytest.mark.parametrize(
    "body",
    [
        b"-5\r\nabc\r\n0\r\n\r\n",
        b'3\r\n{"a\r\n-3\r\nabc\r\n0\r\n\r\n',
    ],
)
def test_a_negative_chunk_size_is_a_broken_answer_not_a_crash(settings, body):
    """http.client raises a bare ValueError for it, below what requests wraps."""
    headers = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    error = _fetch_from_a_server_sending(settings, headers + body)
    assert isinstance(error, leadping.UpstreamUnavailable)
    assert error.message == "The connection to LeadPing broke mid-answer."


@pytest.mark.parametrize(
    "opening",
    [
        b"HTTP/2.0 200 OK\r\n\r\n{}",
        b"garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 1099\r\n\r\n{}",
    ],
)
def test_an_answer_that_is_not_http_is_said_so_and_not_asked_again(settings, opening):
    error = _fetch_from_a_server_sending(settings, opening)
    assert isinstance(error, leadping.BadPayload)
    assert error.message == "LeadPing's answer is not HTTP the desk can read."


def test_a_connection_closed_without_an_answer_is_still_a_connection_problem(settings):
    error = _fetch_from_a_server_sending(settings, b"")
    assert isinstance(error, leadping.UpstreamUnavailable)
    assert error.retryable
