"""What the benchmark runs against: the sandbox and the desk as child processes, and logins.

Every child gets its own session (process group), so Ctrl-C reaches the benchmark alone and
`Processes.close()` stops each child, gunicorn's worker included, whatever went wrong.
"""

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Self

import requests

ROOT = Path(__file__).resolve().parent.parent
HTTP_TIMEOUT = 15.0  # htmx's own request timeout (templates/base.html)
START_TIMEOUT = 30.0
GUNICORN_CONFIG = ROOT / "leadping_web" / "gunicorn.conf.py"

# Desk settings the caller's shell may hold; the benchmark sets the ones it needs itself.
_DESK_VARIABLES = re.compile(
    r"(DJANGO_|LEADPING_|DATABASE_|REDIS_|GUNICORN_|DESK_)|WEB_CONCURRENCY$"
)
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class HarnessError(Exception):
    """The benchmark itself could not run: a server did not start, a login failed…"""


def desk_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any desk setting, plus `settings`."""
    inherited = {
        name: value for name, value in os.environ.items() if not _DESK_VARIABLES.match(name)
    }
    return {**inherited, "PYTHONUNBUFFERED": "1", **settings}


def manage(*args: str, env: dict[str, str]) -> str:
    """Run `manage.py ARGS` to completion and return its output; HarnessError if it fails."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise HarnessError(f"manage.py {' '.join(args)} failed:\n{done.stderr.strip()}")
    return done.stdout


def python_value(expression: str, *, env: dict[str, str]) -> str:
    """Evaluate `expression` (with leadping_web.settings imported as `settings`) in a child."""
    code = f"from leadping_web import settings; print({expression})"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise HarnessError(f"Could not read {expression}:\n{done.stderr.strip()}")
    return done.stdout.strip()


class Processes:
    """The children started for one run; `close()` (or leaving the `with`) stops them all."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._children: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(
        self,
        name: str,
        args: Sequence[str],
        *,
        env: dict[str, str],
        pass_fds: Sequence[int] = (),
        capture_stdout: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Start `python ARGS` in its own process group, stderr (and stdout) to NAME.log."""
        log = (self._log_dir / f"{name}.log").open("wb")
        child = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture_stdout else log,
            stderr=log,
            pass_fds=pass_fds,
            start_new_session=True,
        )
        self._children.append((name, child, log))
        return child

    def log_tail(self, name: str, lines: int = 20) -> str:
        """The last lines a child wrote, to explain why it did not start."""
        path = self._log_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.strip().splitlines()[-lines:]) or "(it wrote nothing)"

    def cpu_seconds(self, name: str) -> float:
        """CPU seconds (user + system) used so far by the child `name` and its process group."""
        for child_name, child, _log in self._children:
            if child_name == name:
                return group_cpu_seconds(child.pid)
        raise HarnessError(f"No child process named {name}.")

    def close(self) -> None:
        """Stop every child, newest first: SIGTERM to its group, SIGKILL after 10 s."""
        # A second Ctrl-C must not cut the cleanup short and leave a child running.
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in _STOP_SIGNALS}
        try:
            while self._children:
                _name, child, log = self._children.pop()
                _stop_group(child)
                if child.stdout is not None:
                    child.stdout.close()
                log.close()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def group_cpu_seconds(group: int) -> float:
    """CPU seconds used by the live processes of process group `group`, from Linux's /proc."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # Fields after "(command)": state ppid pgrp … utime (14th) stime (15th).
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _stop_group(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    try:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(timeout=10)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=5)


def start_sandbox(
    processes: Processes, *, env: dict[str, str], latency_ms: int, live_seconds: int
) -> str:
    """Start `manage.py leadping_sandbox` on a free port; return its base URL once it listens."""
    child = processes.start(
        "sandbox",
        [
            "manage.py",
            "leadping_sandbox",
            "--port",
            "0",
            "--latency-ms",
            str(latency_ms),
            "--live-seconds",
            str(live_seconds),
            "--quiet",
        ],
        env=env,
        capture_stdout=True,
    )
    assert child.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and child.poll() is None:
        readable, _, _ = select.select([child.stdout], [], [], 0.2)
        if readable:
            match = re.search(rb"listening on (http://\S+)", child.stdout.readline())
            if match:
                return match.group(1).decode()
    raise HarnessError(f"The sandbox did not start:\n{processes.log_tail('sandbox')}")


def start_desk(processes: Processes, *, env: dict[str, str], workers: int, threads: int) -> str:
    """Serve the desk with gunicorn on a socket bound here; return its base URL."""
    # The settings of `make run` (gunicorn's config file, when the desk has one), with the
    # worker and thread counts pinned. Handing gunicorn a socket bound here (fd://) leaves
    # no moment for another process to take the port first.
    config = ["--config", str(GUNICORN_CONFIG)] if GUNICORN_CONFIG.exists() else ["--timeout", "60"]
    with socket.create_server(("127.0.0.1", 0), backlog=128) as listener:
        port = listener.getsockname()[1]
        child = processes.start(
            "gunicorn",
            [
                "-m",
                "gunicorn",
                *config,
                "--bind",
                f"fd://{listener.fileno()}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "leadping_web.wsgi",
            ],
            env=env,
            pass_fds=(listener.fileno(),),
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and child.poll() is None:
        try:
            health = requests.get(f"{base_url}/healthz", timeout=1, allow_redirects=False)
        except requests.RequestException:
            time.sleep(0.1)
            continue
        if health.status_code == 200:
            return base_url
        raise HarnessError(f"/healthz answered {health.status_code} {health.headers}")
    raise HarnessError(f"gunicorn did not start:\n{processes.log_tail('gunicorn')}")


def redis_reachable(url: str) -> bool:
    """Whether a Redis server answers PING at `url` (redis-py comes with the desk)."""
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except (redis.RedisError, ValueError, OSError):
        return False


def delete_redis_keys(url: str, prefix: str) -> int:
    """Delete the keys a run wrote (its own KEY_PREFIX); return how many."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    deleted = 0
    for key in client.scan_iter(match=f"{prefix}:*", count=500):
        deleted += client.delete(key)
    return deleted


_CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def log_in(base_url: str, username: str, password: str) -> requests.Session:
    """A session logged in through the login form, CSRF token and all, as a browser does."""
    session = requests.Session()
    login_url = f"{base_url}/accounts/login/"
    form = session.get(login_url, timeout=HTTP_TIMEOUT)
    token = _CSRF_FIELD.search(form.text)
    if form.status_code != 200 or token is None:
        raise HarnessError(f"The login form did not load ({form.status_code}).")
    answer = session.post(
        login_url,
        data={
            "csrfmiddlewaretoken": token.group(1),
            "username": username,
            "password": password,
            "next": "/",
        },
        headers={"Origin": base_url, "Referer": login_url},
        allow_redirects=False,
        timeout=HTTP_TIMEOUT * 2,
    )
    if answer.status_code != 302 or "sessionid" not in session.cookies:
        raise HarnessError(f"Logging in as {username} failed ({answer.status_code}).")
    return session
