"""The measurements: viewers polling a live event, page latency, throughput, bytes sent."""

import gzip
import html
import http.client
import math
import random
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import requests

from bench.harness import HTTP_TIMEOUT, HarnessError

# desk.js: after a failed poll the tab skips 2, 4, 8… ticks, at most this many.
MAX_BACKOFF_TICKS = 12
BROWSER_ENCODINGS = {"Accept-Encoding": "gzip, br"}
_STATUS_PANEL = re.compile(r'<[a-z]+\s[^>]*\bid="status-panel"[^>]*>')
_HX_GET = re.compile(r'\bhx-get="([^"]+)"')
_HX_EVERY = re.compile(r'\bhx-trigger="every (\d+(?:\.\d+)?)(m?s)"')


def fresh_live_id(label: str) -> str:
    """A `live-…` id the sandbox has never seen, so neither it nor the desk has it cached."""
    return f"live-bench-{label}-{secrets.token_hex(6)}"


def percentile(samples: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile of `samples`."""
    if not samples:
        raise HarnessError("No samples to take a percentile of.")
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def _status_panel_tag(page_html: str) -> str:
    """The opening tag of the status panel (`id="status-panel"`), or "" if there is none."""
    match = _STATUS_PANEL.search(page_html)
    return match.group(0) if match else ""


def poll_url(page_html: str) -> str | None:
    """The status panel's `hx-get` (it carries `?v=`), or None once the event is final."""
    match = _HX_GET.search(_status_panel_tag(page_html))
    return html.unescape(match.group(1)) if match else None


def poll_interval(page_html: str, default: float) -> float:
    """Seconds between polls from the panel's `hx-trigger="every Ns"`, else `default`."""
    match = _HX_EVERY.search(_status_panel_tag(page_html))
    if match is None:
        return default
    return float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)


# --- 1. viewers polling one live event ------------------------------------------------------


@dataclass
class PollRun:
    """What K viewers did in one poll phase, and what it cost upstream."""

    viewers: int
    event_id: str
    page_views: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    upstream_calls: int = 0
    desk_cpu_share: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def polls(self) -> int:
        return sum(self.outcomes.values())

    @property
    def naive_calls(self) -> int:
        """What a dashboard without a cache would spend: one call per page view and poll."""
        return self.page_views + self.polls

    def record(self, outcome: str, error: str | None = None) -> None:
        with self._lock:
            if outcome == "page":
                self.page_views += 1
            else:
                self.outcomes[outcome] += 1
            if error:
                self.errors[error] += 1


def watch_event(
    session: requests.Session,
    base_url: str,
    run: PollRun,
    *,
    start: float,
    end: float,
    poll_seconds: float,
    stop: threading.Event,
) -> None:
    """One browser tab: open the permalink at a random moment, then poll as htmx does until `end`.

    htmx's `every Ns` re-arms its timer each time it fires, so a 204 or an error keeps the
    cadence; a 200 swaps in a new panel whose timer starts afresh (at its own interval); a
    286 stops polling. After errors desk.js skips 2, 4, 8… ticks, and so does this tab.
    """
    permalink = f"{base_url}/events/{run.event_id}/"
    phase = random.uniform(0, poll_seconds)  # noqa: S311 - a tab's phase, not a secret
    if stop.wait(max(0.0, start + phase - time.monotonic())):
        return
    try:
        page = session.get(permalink, headers=BROWSER_ENCODINGS, timeout=HTTP_TIMEOUT)
    except requests.RequestException as error:
        run.record("page", type(error).__name__)
        return
    run.record("page", None if page.status_code == 200 else f"page {page.status_code}")
    url = poll_url(page.text) if page.status_code == 200 else None
    if url is None:
        return
    interval = poll_interval(page.text, poll_seconds)
    headers = {
        **BROWSER_ENCODINGS,
        "HX-Request": "true",
        "HX-Current-URL": permalink,
        "HX-Target": "status-panel",
        "HX-Trigger": "status-panel",
    }
    next_at = time.monotonic() + interval
    failures = skipped = 0
    while next_at < end:
        if stop.wait(max(0.0, next_at - time.monotonic())):
            return
        next_at += interval
        if failures and skipped < min(2**failures, MAX_BACKOFF_TICKS):
            skipped += 1
            continue
        skipped = 0
        try:
            answer = session.get(urljoin(base_url, url), headers=headers, timeout=HTTP_TIMEOUT)
        except requests.RequestException as error:
            failures += 1
            run.record("error", type(error).__name__)
            continue
        if answer.status_code == 204:
            failures = 0
            run.record("204")
        elif answer.status_code == 200:
            failures = 0
            run.record("200")
            url = poll_url(answer.text) or url
            interval = poll_interval(answer.text, interval)
            next_at = time.monotonic() + interval
        elif answer.status_code == 286:
            run.record("286")
            return
        else:
            failures += 1
            run.record("error", f"poll {answer.status_code}")


def run_viewers(
    sessions: Sequence[requests.Session],
    base_url: str,
    run: PollRun,
    *,
    seconds: float,
    poll_seconds: float,
) -> None:
    """Let each session watch the event in its own thread for `seconds`, then wait for all."""
    stop = threading.Event()
    start = time.monotonic() + 0.5
    end = start + seconds
    threads = [
        threading.Thread(
            target=watch_event,
            args=(session, base_url, run),
            kwargs={"start": start, "end": end, "poll_seconds": poll_seconds, "stop": stop},
            name=f"viewer-{index}",
            daemon=True,
        )
        for index, session in enumerate(sessions)
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            # Short joins keep the main thread able to take a Ctrl-C.
            while thread.is_alive():
                thread.join(0.2)
    finally:
        stop.set()


# --- 2. latency and throughput ----------------------------------------------------------------


class KeepAlive:
    """One keep-alive HTTP/1.1 connection, with a login's cookies, for latency and throughput.

    A browser's network stack is not in Python; `requests` costs this process 1.5 to 2 ms of CPU
    per request, on the same two cores the desk is measured on, where http.client costs about
    0.3 ms. Sends Accept-Encoding: gzip, as browsers do.
    """

    def __init__(
        self, base_url: str, *, cookies: dict[str, str] | None = None, **headers: str
    ) -> None:
        parts = urlsplit(base_url)
        self._address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._headers = {"Accept-Encoding": "gzip", **headers}
        if cookies:
            self._headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        self._connection: http.client.HTTPConnection | None = None

    def get(self, path: str) -> int:
        """GET `path` and read the whole answer; its status, or 0 if the connection failed."""
        for attempt in (1, 2):  # the server may have closed an idle keep-alive connection
            if self._connection is None:
                self._connection = http.client.HTTPConnection(*self._address, timeout=HTTP_TIMEOUT)
            try:
                self._connection.request("GET", path, headers=self._headers)
                answer = self._connection.getresponse()
                answer.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    return 0
                continue
            if answer.will_close:
                self.close()
            return answer.status
        return 0

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def timed_get(client: KeepAlive, path: str) -> float | None:
    """Milliseconds to GET `path` and read the whole answer; None unless it answered 200."""
    started = time.perf_counter()
    status = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed if status == 200 else None


@dataclass
class Latencies:
    """Milliseconds by kind of request, and how many of each failed (left out of the samples)."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    failed: Counter[str] = field(default_factory=Counter)


def interleaved_latencies(
    requests_by_name: dict[str, Callable[[int], float | None]],
    *,
    samples: int,
    warmup: int,
    into: Latencies,
) -> None:
    """Time each kind of request in turn, so that all see the same machine load."""
    for name in requests_by_name:
        into.samples.setdefault(name, [])
    for index in range(warmup + samples):
        for name, timed in requests_by_name.items():
            elapsed = timed(index)
            if index < warmup:
                continue
            if elapsed is None:
                into.failed[name] += 1
            else:
                into.samples[name].append(elapsed)


@dataclass(frozen=True)
class Throughput:
    """Requests answered 200 per second by `clients` keep-alive sessions, and the failures."""

    clients: int
    seconds: float
    ok: int
    failed: int

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds


def throughput(clients: Sequence[KeepAlive], path: str, *, seconds: float) -> Throughput:
    """Each client GETs `path` back to back in its own thread for `seconds`."""
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    ready = threading.Barrier(len(clients) + 1)
    stop = threading.Event()

    def run(client: KeepAlive) -> None:
        ok = failed = 0
        try:
            if client.get(path) != 200:  # opens the keep-alive connection
                raise OSError(f"GET {path} failed")
            ready.wait(timeout=HTTP_TIMEOUT)
        except (OSError, threading.BrokenBarrierError):
            ready.abort()
            return
        while not stop.is_set():
            if client.get(path) == 200:
                ok += 1
            else:
                failed += 1
        with lock:
            counts.update(ok=ok, failed=failed)

    threads = [threading.Thread(target=run, args=(c,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    try:
        ready.wait(timeout=HTTP_TIMEOUT)
    except threading.BrokenBarrierError:
        stop.set()
        raise HarnessError("The throughput clients could not connect.") from None
    started = time.monotonic()
    try:
        stop.wait(seconds)
    finally:
        stop.set()
        for thread in threads:
            thread.join(HTTP_TIMEOUT)
    elapsed = time.monotonic() - started
    return Throughput(len(clients), elapsed, counts["ok"], counts["failed"])


# --- 3. bytes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transfer:
    """One answer as it crossed the wire: headers and body as sent, and the decoded text."""

    url: str
    status: int
    header_bytes: int
    body_bytes: int
    encoding: str
    text: str

    @property
    def wire_bytes(self) -> int:
        return self.header_bytes + self.body_bytes

    @property
    def gzip_bytes(self) -> int:
        """The body's size as sent, or gzipped here (level 6) if the server sent it plain."""
        if self.encoding:
            return self.body_bytes
        return len(gzip.compress(self.text.encode(), compresslevel=6))


def fetch(session: requests.Session, url: str, headers: dict[str, str] | None = None) -> Transfer:
    """GET `url` and measure the answer's status line, headers and (still encoded) body."""
    with session.get(
        url, headers={**BROWSER_ENCODINGS, **(headers or {})}, stream=True, timeout=HTTP_TIMEOUT
    ) as answer:
        raw = answer.raw.read(decode_content=False)
        reason = answer.reason or ""
        status_line = f"HTTP/1.1 {answer.status_code} {reason}\r\n"
        header_lines = "".join(f"{name}: {value}\r\n" for name, value in answer.raw.headers.items())
        encoding = answer.headers.get("Content-Encoding", "")
    header_bytes = len((status_line + header_lines + "\r\n").encode("latin-1"))
    if encoding == "gzip":
        text = gzip.decompress(raw).decode(errors="replace")
    elif encoding:
        text = ""  # brotli and the like: only their size is measured
    else:
        text = raw.decode(errors="replace")
    return Transfer(url, answer.status_code, header_bytes, len(raw), encoding, text)


class _AssetLinks(HTMLParser):
    """Collects the stylesheets and scripts a page references."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "link" and "stylesheet" in values.get("rel", "").split():
            self.urls.append(values.get("href", ""))
        elif tag == "script" and values.get("src"):
            self.urls.append(values["src"])


def first_view(session: requests.Session, page_url: str) -> list[Transfer]:
    """The page and every stylesheet and script it references, each fetched once."""
    page = fetch(session, page_url)
    if page.status != 200:
        raise HarnessError(f"GET {page_url} answered {page.status}.")
    parser = _AssetLinks()
    parser.feed(page.text)
    assets = [fetch(session, urljoin(page_url, url)) for url in parser.urls if url]
    missing = [asset.url for asset in assets if asset.status != 200]
    if missing:
        raise HarnessError(f"Assets did not load: {', '.join(missing)}")
    return [page, *assets]
