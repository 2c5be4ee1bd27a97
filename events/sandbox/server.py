"""The LeadPing sandbox server: a local, stdlib-only fake of `GET /events/{eventId}/detail`.

Run it with `python manage.py leadping_sandbox`, or in-process with `start_in_thread()`. It
follows the contract in ../../../shared/leadping-api/ (the reference page and README.md):
`Authorization: Bearer <api key>` exactly, JSON bodies for 200 and RFC 9457 problem details
(`application/problem+json`) for errors.

Event ids it answers:

- the catalogue of `events.sandbox.catalogue` (GUIDs, plus `hostile-payloads`);
- `live-demo`, and any `live-<1 to 64 of A-Z a-z 0-9 _ ->`, made on demand so every browser
  test or benchmark can use a fresh one: an outbound SMS whose clock starts at its first
  fetch, Pending for the first third of `live_seconds`, InProgress for the second third,
  Completed after that;
- special ids that fail the ways LeadPing, or a proxy in front of it, can fail:

  ======================  =====================================================================
  sandbox-429             429 with `Retry-After: 17` and the documented rate-limit body
  sandbox-429-no-header   the same 429 without `Retry-After`
  sandbox-forbidden       403 problem+json
  sandbox-500             500 problem+json
  sandbox-503-html        503 with a proxy's text/html error page
  sandbox-not-json        200 with a text/html body
  sandbox-array           200 with the JSON body `[]`
  sandbox-slow            waits 12 s, then answers 200 (503 at once if the server stops)
  sandbox-drip            200 whose 4 KB body comes one byte a second: each read is quick,
                          the whole never arrives in time (stops when the server stops)
  ======================  =====================================================================

Other paths: `GET /_sandbox/stats` (no key) counts detail requests by status and event id,
`POST /_sandbox/reset` zeroes those counters, the live clocks and the rate-limit window, and
`GET /.well-known/oauth-protected-resource` is the metadata the 401's `WWW-Authenticate`
points to. Any other path is a 404; a known path with the wrong method is a 405.
"""

import hmac
import json
import math
import re
import sys
import threading
import time
import traceback
from collections import Counter
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import AF_INET6
from socketserver import TCPServer
from typing import Any, NamedTuple
from urllib.parse import unquote

from events.sandbox.catalogue import build_catalogue, live_event

DEFAULT_API_KEY = "lp_sandbox_demo_key"
SLOW_SECONDS = 12.0
DRIP_BYTES = 4096
RATE_LIMIT_WINDOW_SECONDS = 60

# README.md, "Rate limits": the one error body LeadPing documents, byte for byte.
RATE_LIMITED_BODY = json.dumps(
    {
        "status": 429,
        "title": "Too many requests.",
        "detail": "The API rate limit for this account has been exceeded.",
    }
).encode()

JSON_TYPE = "application/json; charset=utf-8"
PROBLEM_TYPE = "application/problem+json"
HTML_TYPE = "text/html; charset=utf-8"

_LIVE_ID = re.compile(r"live-[A-Za-z0-9_-]{1,64}")
_METADATA_PATH = "/.well-known/oauth-protected-resource"
# Live ids are made on demand by anyone who asks: bound the memory they and the counters use.
_MAX_LIVE_CLOCKS = 10_000
_MAX_COUNTED_IDS = 10_000
_MAX_COUNTED_ID_LENGTH = 128
_OTHER_IDS = "(other)"
_MAX_DISCARDED_BODY = 64 * 1024


class _Answer(NamedTuple):
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str]


def _problem(status: int, title: str, detail: str) -> bytes:
    return json.dumps({"status": status, "title": title, "detail": detail}).encode()


_SPECIAL_ANSWERS: dict[str, _Answer] = {
    "sandbox-429": _Answer(429, PROBLEM_TYPE, RATE_LIMITED_BODY, {"Retry-After": "17"}),
    "sandbox-429-no-header": _Answer(429, PROBLEM_TYPE, RATE_LIMITED_BODY, {}),
    "sandbox-forbidden": _Answer(
        403,
        PROBLEM_TYPE,
        _problem(403, "Forbidden", "This API key may not read events of this business."),
        {},
    ),
    "sandbox-500": _Answer(
        500,
        PROBLEM_TYPE,
        _problem(
            500,
            "Internal Server Error",
            "An unexpected error occurred. Reference: 0HN8V3J4K2QPL:00000001.",
        ),
        {},
    ),
    "sandbox-503-html": _Answer(
        503,
        HTML_TYPE,
        b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n"
        b"<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n"
        b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
        {},
    ),
    "sandbox-not-json": _Answer(
        200,
        HTML_TYPE,
        b'<!DOCTYPE html>\n<html lang="en"><head><title>LeadPing | Sign in</title></head>'
        b'<body><h1>Sign in to LeadPing</h1><form method="post" action="/login">'
        b'<input name="email"><input name="password" type="password"></form></body></html>\n',
        {},
    ),
    "sandbox-array": _Answer(200, JSON_TYPE, b"[]", {}),
}


class SandboxServer:
    """The sandbox API bound to a port; `serve_forever()` here or `start_in_thread()` it."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = DEFAULT_API_KEY,
        latency_ms: float = 0,
        live_seconds: float = 60.0,
        rate_limit: int = 0,
        quiet: bool = False,
    ) -> None:
        if latency_ms < 0 or live_seconds < 0 or rate_limit < 0:
            raise ValueError("latency_ms, live_seconds and rate_limit cannot be negative")
        if not api_key:
            raise ValueError("the sandbox needs an API key to check requests against")
        self.latency_seconds = latency_ms / 1000
        self.live_seconds = live_seconds
        self.rate_limit = rate_limit
        self.quiet = quiet
        self._expected_authorization = f"Bearer {api_key}".encode()
        self.started_at = datetime.now(UTC)
        catalogue = build_catalogue(self.started_at)
        # Serialised once: the catalogue never changes while the server runs.
        self._bodies = {event_id: _json(payload) for event_id, payload in catalogue.items()}
        self._slow_body = _json(
            catalogue["0b7c6a1e-4f2d-4c8e-9a51-3d2e8f6b1c70"] | {"id": "sandbox-slow"}
        )
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._serving = False
        self._reset_state()
        server_class = _HTTPServer6 if ":" in host else _HTTPServer
        self._httpd = server_class((host.strip("[]"), port), _Handler)
        self._httpd.sandbox = self

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"

    def serve_forever(self) -> None:
        """Answer requests in this thread until stop() or KeyboardInterrupt, then close."""
        self._serving = True
        try:
            self._httpd.serve_forever(poll_interval=0.05)
        finally:
            self._stopping.set()
            self._httpd.server_close()

    def stop(self) -> None:
        """Stop serving, answer any waiting request at once, and free the port."""
        self._stopping.set()
        # shutdown() waits for serve_forever() to notice, so it would hang if that never ran.
        if self._serving:
            self._httpd.shutdown()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> "SandboxServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        """Detail requests so far: the total, by status code and by event id."""
        with self._lock:
            return {
                "requests": self._requests,
                "by_status": {str(code): n for code, n in sorted(self._by_status.items())},
                "by_event": dict(self._by_event),
            }

    def reset(self) -> None:
        """Zero the counters and forget live clocks and the rate-limit window."""
        with self._lock:
            self._reset_state()

    def _reset_state(self) -> None:
        self._requests = 0
        self._by_status: Counter[int] = Counter()
        self._by_event: Counter[str] = Counter()
        self._live_clocks: dict[str, tuple[datetime, float]] = {}
        self._window_started = 0.0
        self._window_calls = 0

    def _authorised(self, authorization: str) -> bool:
        return hmac.compare_digest(
            authorization.encode("latin-1", "replace"), self._expected_authorization
        )

    def _take_rate_limit_slot(self) -> int | None:
        """None when the call fits this fixed 60 s window, else the whole seconds left in it."""
        if not self.rate_limit:
            return None
        with self._lock:
            now = time.monotonic()
            if self._window_calls == 0 or now - self._window_started >= RATE_LIMIT_WINDOW_SECONDS:
                self._window_started, self._window_calls = now, 0
            if self._window_calls >= self.rate_limit:
                left = self._window_started + RATE_LIMIT_WINDOW_SECONDS - now
                return max(1, math.ceil(left))
            self._window_calls += 1
            return None

    def _live_body(self, event_id: str) -> bytes:
        with self._lock:
            clock = self._live_clocks.get(event_id)
            if clock is None:
                if len(self._live_clocks) >= _MAX_LIVE_CLOCKS:
                    del self._live_clocks[next(iter(self._live_clocks))]
                clock = self._live_clocks[event_id] = (datetime.now(UTC), time.monotonic())
        started_at, started = clock
        payload = live_event(
            event_id,
            started_at=started_at,
            elapsed=time.monotonic() - started,
            live_seconds=self.live_seconds,
        )
        return _json(payload)

    def _record(self, event_id: str, status: int) -> None:
        with self._lock:
            self._requests += 1
            self._by_status[status] += 1
            counted = event_id in self._by_event or (
                len(self._by_event) < _MAX_COUNTED_IDS and len(event_id) <= _MAX_COUNTED_ID_LENGTH
            )
            self._by_event[event_id if counted else _OTHER_IDS] += 1

    def _pause(self, seconds: float) -> bool:
        """Wait `seconds` unless the server stops first; True if it stopped."""
        return self._stopping.wait(seconds) if seconds > 0 else self._stopping.is_set()


def start_in_thread(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str = DEFAULT_API_KEY,
    latency_ms: float = 0,
    live_seconds: float = 60.0,
    rate_limit: int = 0,
    quiet: bool = True,
) -> SandboxServer:
    """Start a sandbox served from a daemon thread (port 0 picks a free one); stop() it after."""
    sandbox = SandboxServer(
        host=host,
        port=port,
        api_key=api_key,
        latency_ms=latency_ms,
        live_seconds=live_seconds,
        rate_limit=rate_limit,
        quiet=quiet,
    )
    # Set before the thread runs, so a stop() straight after this returns still shuts it down.
    sandbox._serving = True
    sandbox._thread = threading.Thread(
        target=sandbox.serve_forever, name=f"leadping-sandbox:{sandbox.base_url}", daemon=True
    )
    sandbox._thread.start()
    return sandbox


def _json(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # 50 pollers may connect at once; the default backlog of 5 makes the rest retry SYNs.
    request_queue_size = 128
    sandbox: SandboxServer

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall start-up for seconds.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-answer are routine; anything else is shown unless quiet."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError) or self.sandbox.quiet:
            return
        super().handle_error(request, client_address)


class _HTTPServer6(_HTTPServer):
    address_family = AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The event a detail request is counted for, as its answer goes out (see _send).
    _counting: str | None = None
    # No client speaks HTTP/0.9: answer even a garbled request line with a status line and
    # headers, rather than the bare body http.server sends an HTTP/0.9 request.
    default_request_version = "HTTP/1.1"
    server_version = "LeadPingSandbox/1"
    # Headers and body leave in two writes; with Nagle on, delayed ACKs would stall each
    # keep-alive answer by ~40 ms.
    disable_nagle_algorithm = True
    # Idle keep-alive connections give their thread back after this many seconds.
    timeout = 120
    server: _HTTPServer

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.sandbox.quiet:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_TRACE = do_GET

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests (bad request line, 414, 431, unknown method) get problem+json."""
        try:
            title = HTTPStatus(code).phrase
        except ValueError:
            title = "Error"
        self._send(
            code, _problem(code, title, message or title), PROBLEM_TYPE, {"Connection": "close"}
        )

    def _dispatch(self) -> None:
        self._responded = False
        self._counting = None
        self._discard_body()
        sandbox = self.server.sandbox
        try:
            if sandbox._pause(sandbox.latency_seconds):
                self._send_problem(503, "Service Unavailable", "The sandbox is shutting down.")
            else:
                self._route()
        except (ConnectionError, TimeoutError):
            raise
        except Exception:
            # A bug here must cost one request a 500, never the connection or the server.
            if not sandbox.quiet:
                traceback.print_exc()
            self.close_connection = True
            if not self._responded:
                self._send_problem(500, "Internal Server Error", "The sandbox failed.")

    def _route(self) -> None:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        segments = path.split("/")
        if len(segments) == 4 and segments[:2] == ["", "events"] and segments[3] == "detail":
            if self._allow("GET"):
                # Counted as the answer goes out, not after: a client that has its answer
                # and asks for the stats or a reset must find this request counted.
                self._counting = unquote(segments[2])
                self._event_detail(self._counting)
        elif path == "/_sandbox/stats":
            if self._allow("GET"):
                self._send(200, _json(self.server.sandbox.stats()), JSON_TYPE)
        elif path == "/_sandbox/reset":
            if self._allow("POST"):
                self.server.sandbox.reset()
                self._send(204, b"", None)
        elif path == _METADATA_PATH:
            if self._allow("GET"):
                self._send(200, _json(self._resource_metadata()), JSON_TYPE)
        else:
            self._send_problem(404, "Not Found", "The sandbox has no such path.")

    def _event_detail(self, event_id: str) -> int:
        """Answer one detail request; return the status code sent, for the counters."""
        sandbox = self.server.sandbox
        authorization = self.headers.get("Authorization")
        if authorization is None:
            return self._unauthorised("Send the API key as 'Authorization: Bearer <key>'.")
        if not sandbox._authorised(authorization):
            return self._unauthorised("The API key is not valid.")
        retry_after = sandbox._take_rate_limit_slot()
        if retry_after is not None:
            headers = {"Retry-After": str(retry_after)}
            return self._send(429, RATE_LIMITED_BODY, PROBLEM_TYPE, headers)
        special = _SPECIAL_ANSWERS.get(event_id)
        if special is not None:
            return self._send(special.status, special.body, special.content_type, special.headers)
        if event_id == "sandbox-drip":
            return self._drip()
        if event_id == "sandbox-slow":
            if sandbox._pause(SLOW_SECONDS):
                return self._send_problem(503, "Service Unavailable", "The sandbox is stopping.")
            return self._send(200, sandbox._slow_body, JSON_TYPE)
        body = sandbox._bodies.get(event_id)
        if body is None and _LIVE_ID.fullmatch(event_id):
            body = sandbox._live_body(event_id)
        if body is None:
            return self._send_problem(404, "Not Found", "No event with this ID.")
        return self._send(200, body, JSON_TYPE)

    def _unauthorised(self, detail: str) -> int:
        metadata_url = self.server.sandbox.base_url + _METADATA_PATH
        headers = {"WWW-Authenticate": f'Bearer resource_metadata="{metadata_url}"'}
        return self._send(401, _problem(401, "Unauthorized", detail), PROBLEM_TYPE, headers)

    def _resource_metadata(self) -> dict[str, Any]:
        """RFC 9728 protected-resource metadata, the document the 401 points clients to."""
        return {
            "resource": self.server.sandbox.base_url,
            "bearer_methods_supported": ["header"],
            "resource_name": "LeadPing sandbox",
        }

    def _allow(self, method: str) -> bool:
        """True if the request uses `method`; else answer 405 and return False."""
        if self.command == method:
            return True
        detail = f"This path answers {method} only."
        self._send(
            405, _problem(405, "Method Not Allowed", detail), PROBLEM_TYPE, {"Allow": method}
        )
        return False

    def _send_problem(self, status: int, title: str, detail: str) -> int:
        return self._send(status, _problem(status, title, detail), PROBLEM_TYPE)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: dict[str, str] | None = None,
    ) -> int:
        self._responded = True
        if self._counting is not None:
            self.server.sandbox._record(self._counting, status)
            self._counting = None
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        # RFC 9110 forbids Content-Length on a 204.
        if status != HTTPStatus.NO_CONTENT:
            self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
        return status

    def _drip(self) -> int:
        """A 200 that never finishes in time: headers at once, then a byte a second."""
        self._responded = True
        if self._counting is not None:
            self.server.sandbox._record(self._counting, 200)
            self._counting = None
        self.send_response(200)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(DRIP_BYTES))
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        for _ in range(DRIP_BYTES):
            if self.server.sandbox._pause(1.0):
                break
            self.wfile.write(b" ")
            self.wfile.flush()
        return 200

    def _discard_body(self) -> None:
        """Read any request body, so the next request on this connection parses cleanly."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return
        length = self.headers.get("Content-Length")
        if not length:
            return
        try:
            size = int(length)
        except ValueError:
            size = -1
        if 0 <= size <= _MAX_DISCARDED_BODY:
            self.rfile.read(size)
        else:
            self.close_connection = True
