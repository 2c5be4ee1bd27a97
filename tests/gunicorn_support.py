"""Start the desk under real gunicorn, with leadping_web/gunicorn.conf.py, for tests."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONFIG = ROOT / "leadping_web" / "gunicorn.conf.py"
START_SECONDS = 60

# Variables of the machine that would change what the started desk does.
_DESK_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "LEADPING_API_KEY",
    "LEADPING_API_BASE_URL",
    "DJANGO_LOG_FORMAT",
    "GUNICORN_BIND",
    "PORT",
    "WEB_CONCURRENCY",
    "GUNICORN_TIMEOUT",
    "TRUST_REQUEST_ID_HEADER",
    "METRICS_TOKEN",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def desk_environment(var_dir: Path, **overrides: str) -> dict[str, str]:
    """The machine's environment without desk settings, plus a private var dir and overrides."""
    environment = {k: v for k, v in os.environ.items() if k not in _DESK_VARIABLES}
    environment.update(
        DJANGO_SETTINGS_MODULE="leadping_web.settings",
        LEADPING_VAR_DIR=str(var_dir),
        DJANGO_SECRET_KEY="multi-instance-test-secret-key-0123456789abcdef",
        # Plain HTTP on loopback: no HTTPS redirect, cookies without the Secure flag.
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_COOKIES="false",
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="8",
    )
    environment.update(overrides)
    return environment


def start_gunicorn(port: int, environment: Mapping[str, str], log: Path) -> subprocess.Popen:
    """gunicorn -c leadping_web/gunicorn.conf.py on 127.0.0.1:port; returns once it answers."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(GUNICORN_CONFIG),
                "--bind",
                f"127.0.0.1:{port}",
                "leadping_web.wsgi",
            ],
            cwd=ROOT,
            env=dict(environment),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log.read_text()}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.1)
    stop(process)
    raise RuntimeError(f"gunicorn did not answer within {START_SECONDS} s:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
