"""`make run` (manage.py rundesk) as a terminal runs it: the address said at once, and every
process gone when the terminal closes."""

import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _read_line_with(stream, text: bytes, *, within: float) -> bytes:
    deadline = time.monotonic() + within
    seen = b""
    while time.monotonic() < deadline:
        readable, _, _ = select.select([stream], [], [], 0.5)
        if readable:
            line = stream.readline()
            seen += line
            if text in line:
                return line
            if not line:
                break
    pytest.fail(f"no line with {text!r} in {within} s; output:\n{seen.decode(errors='replace')}")


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_closed_terminal_stops_the_desk_and_its_sandbox(tmp_path):
    desk_port, sandbox_port = _free_port(), _free_port()
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "LEADPING_", "DATABASE_", "REDIS_", "GUNICORN_"))
    }
    environment |= {
        "LEADPING_VAR_DIR": str(tmp_path),
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "DESK_PORT": str(desk_port),
        "LEADPING_SANDBOX_PORT": str(sandbox_port),
        # Not PYTHONUNBUFFERED: its output goes to a pipe, as under `make run | tee` or systemd.
        "PYTHONUNBUFFERED": "",
    }
    desk = subprocess.Popen(
        [sys.executable, "manage.py", "rundesk"],
        cwd=ROOT,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        bufsize=0,  # unbuffered here: select() sees every line not yet read
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # Said when it is true, not when the process ends.
        _read_line_with(desk.stdout, b"Sandbox demo account", within=60)
        _read_line_with(desk.stdout, f":{desk_port}/".encode(), within=60)
        assert requests.get(f"http://127.0.0.1:{desk_port}/healthz", timeout=5).ok
        os.killpg(desk.pid, signal.SIGHUP)  # what a closing terminal sends its processes
        desk.wait(timeout=30)
        deadline = time.monotonic() + 15
        while _group_alive(desk.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _group_alive(desk.pid), "gunicorn or the sandbox outlived the terminal"
    finally:
        if _group_alive(desk.pid):
            os.killpg(desk.pid, signal.SIGKILL)
        desk.stdout.close()
