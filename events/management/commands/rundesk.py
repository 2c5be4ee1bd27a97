"""`python manage.py rundesk`: the one command behind `make run`.

Migrates, collects static files, starts the LeadPing sandbox when no API key is configured,
makes sure a demo account exists in sandbox mode, then serves the desk with gunicorn.
"""

import errno
import io
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.utils import OperationalError

from leadping_web.env import env_int, env_str

DEMO_USERNAME = "demo"
GUNICORN_CONFIG = Path(__file__).resolve().parents[3] / "leadping_web" / "gunicorn.conf.py"


class Command(BaseCommand):
    help = "Run the Event Desk (and, without LEADPING_API_KEY, the LeadPing sandbox beside it)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=env_str("DESK_HOST", "127.0.0.1"))
        parser.add_argument(
            "--port", type=int, default=env_int("DESK_PORT", 8000, minimum=1, maximum=65535)
        )

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        # A SIGTERM (from a process manager, or `kill`) must stop the children too, and so
        # must a SIGHUP (the terminal closed), which gunicorn alone would take for "reload".
        signal.signal(signal.SIGTERM, _exit_on_signal)
        signal.signal(signal.SIGHUP, _exit_on_signal)
        # The address and the demo password are read as they are said, piped to a log too.
        if isinstance(sys.stdout, io.TextIOWrapper):
            sys.stdout.reconfigure(line_buffering=True)
        try:
            call_command("migrate", interactive=False, verbosity=0)
        except OperationalError as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise CommandError(
                f"The database could not be opened ({reason}). Check DATABASE_URL, or that "
                f"{settings.VAR_DIR} is writable for the default SQLite database."
            ) from None
        call_command("collectstatic", interactive=False, verbosity=0)
        # Before the sandbox and the demo account: a desk that cannot listen says so first.
        problem = _listen_problem(host, port)
        if problem is not None:
            raise CommandError(problem)
        children: list[subprocess.Popen[bytes]] = []
        try:
            if settings.LEADPING_SANDBOX:
                sandbox = self._start_sandbox()
                if sandbox is not None:
                    children.append(sandbox)
                self._announce_demo_account()
            elif not get_user_model().objects.exists():
                self.stdout.write(_LOGIN_HINT.format(python=_python()))
            desk = self._start_desk(host, port)
            children.append(desk)
            if not _wait_until_answering(desk, host, port):
                raise CommandError(
                    f"gunicorn did not start (exit status {desk.poll()}); see the lines above."
                )
            self.stdout.write(
                self.style.SUCCESS(f"LeadPing Event Desk: http://{_url_host(host)}:{port}/")
                + f"  (LeadPing API: {settings.LEADPING_API_BASE_URL}; Ctrl-C stops)"
            )
            status = desk.wait()
            if status not in _STOPPED_ON_REQUEST:
                raise CommandError(f"gunicorn stopped (exit status {status}); see the lines above.")
        except KeyboardInterrupt:
            pass
        finally:
            for child in reversed(children):
                _stop(child)

    def _start_sandbox(self) -> subprocess.Popen[bytes] | None:
        """Start the sandbox unless LEADPING_API_BASE_URL points elsewhere or one is running."""
        if settings.LEADPING_API_BASE_URL != settings.LEADPING_SANDBOX_URL:
            base_url = settings.LEADPING_API_BASE_URL
            self.stdout.write(f"No LEADPING_API_KEY: using the sandbox key against {base_url}")
            return None
        if _sandbox_answers():
            self.stdout.write(
                f"Using the LeadPing sandbox already running at {settings.LEADPING_SANDBOX_URL} "
                "(another make run's, most likely: stopping that one stops it; give this one "
                "its own with LEADPING_SANDBOX_PORT)"
            )
            return None
        if _port_taken("127.0.0.1", settings.LEADPING_SANDBOX_PORT):
            raise CommandError(
                f"Port {settings.LEADPING_SANDBOX_PORT} is taken by something other than the "
                "sandbox. Set LEADPING_SANDBOX_PORT to a free port."
            )
        manage_py = Path(settings.BASE_DIR) / "manage.py"
        sandbox = subprocess.Popen(
            [sys.executable, str(manage_py), "leadping_sandbox", "--quiet"],
        )
        deadline = time.monotonic() + 15
        while not _sandbox_answers():
            if sandbox.poll() is not None or time.monotonic() > deadline:
                _stop(sandbox)
                raise CommandError("The LeadPing sandbox did not start; see the lines above.")
            time.sleep(0.1)
        return sandbox

    def _announce_demo_account(self) -> None:
        """In sandbox mode, create the demo account once and always say how to log in."""
        users = get_user_model()
        credentials = Path(settings.VAR_DIR) / "demo-account.txt"
        if not users.objects.exists():
            password = secrets.token_urlsafe(12)
            users.objects.create_superuser(DEMO_USERNAME, email="", password=password)
            credentials.parent.mkdir(parents=True, exist_ok=True)
            credentials.touch(mode=0o600)
            credentials.write_text(f"{DEMO_USERNAME}\n{password}\n")
        demo = users.objects.filter(username=DEMO_USERNAME).first()
        if demo is not None and credentials.exists():
            username, password, *_ = [*credentials.read_text().split("\n"), "", ""]
            if demo.check_password(password):
                self.stdout.write(
                    self.style.WARNING(
                        f"Sandbox demo account: username {username}  password {password}"
                    )
                    + f"  (kept in {credentials})"
                )
                return
        self.stdout.write(_LOGIN_HINT.format(python=_python()))

    def _start_desk(self, host: str, port: int) -> subprocess.Popen[bytes]:
        problem = _listen_problem(host, port)
        if problem is not None:  # taken meanwhile
            raise CommandError(problem)
        # Workers, threads, timeouts and logs come from the production config file (the
        # same WEB_CONCURRENCY, GUNICORN_THREADS… variables); only the address is ours.
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(GUNICORN_CONFIG),
                "--bind",
                f"{_url_host(host)}:{port}",
                "leadping_web.wsgi",
            ],
            cwd=settings.BASE_DIR,
            env=_plain_http_environment(),
        )


# This command serves plain HTTP (a TLS proxy in front is the production setup, see README):
# the HTTPS-only protections would redirect every request to an https:// nobody answers.
_PLAIN_HTTP_DEFAULTS = {
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "DJANGO_SECURE_COOKIES": "false",
    "DJANGO_HSTS_SECONDS": "0",
}


def _plain_http_environment() -> dict[str, str]:
    """The environment for gunicorn: HTTPS-only protections off unless set explicitly. A
    blank value (`DJANGO_SECURE_SSL_REDIRECT=` from a copied .env.example) is no setting:
    the settings would read it as unset and turn the protection back on."""
    blank = {name for name, value in os.environ.items() if not value.strip()}
    defaults = {name: value for name, value in _PLAIN_HTTP_DEFAULTS.items() if name in blank}
    # Where to listen is DESK_HOST:DESK_PORT, given on the command line: a PaaS's PORT (or
    # GUNICORN_BIND) would only be read, and a malformed one would stop the desk.
    inherited = {name: value for name, value in os.environ.items() if name not in _BIND_VARIABLES}
    return {**_PLAIN_HTTP_DEFAULTS, **inherited, **defaults}


_BIND_VARIABLES = {"PORT", "GUNICORN_BIND"}


_LOGIN_HINT = (
    "Log in with an account made by: {python} manage.py createsuperuser "
    "(a forgotten password: {python} manage.py changepassword <username>)"
)
# gunicorn's exit status after Ctrl-C or SIGTERM (from us or a process manager).
_STOPPED_ON_REQUEST = {0, -signal.SIGINT, -signal.SIGTERM}
_START_TIMEOUT = 30


def _python() -> str:
    """How to call this Python from the project folder: .venv/bin/python, as the README says."""
    executable = Path(sys.executable)
    try:
        return str(executable.relative_to(Path(settings.BASE_DIR)))
    except ValueError:
        return str(executable)


def _wait_until_answering(desk: subprocess.Popen[bytes], host: str, port: int) -> bool:
    """Whether gunicorn answers /healthz before it exits or _START_TIMEOUT passes."""
    # Listening on every interface: ask on loopback.
    probe_host = {"0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}.get(host, host)  # noqa: S104
    url = f"http://{_url_host(probe_host)}:{port}/healthz"
    deadline = time.monotonic() + _START_TIMEOUT
    while desk.poll() is None and time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1, allow_redirects=False)
        except requests.RequestException:
            time.sleep(0.1)
            continue
        return True
    return desk.poll() is None


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _sandbox_answers() -> bool:
    try:
        response = requests.get(f"{settings.LEADPING_SANDBOX_URL}/_sandbox/stats", timeout=0.5)
    except requests.RequestException:
        return False
    return response.status_code == 200


def _listen_problem(host: str, port: int) -> str | None:
    """Why the desk could not listen on host:port, tried as gunicorn will (a bind with
    SO_REUSEADDR), or None. A connection would answer for a port in use only, and from any
    address at all on a network that accepts every connection."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM
        )[0]
    except (socket.gaierror, UnicodeError):
        return f"DESK_HOST {host!r} is neither an address nor a name this machine can resolve."
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"Port {port} on {host} is taken. Set DESK_PORT to a free port."
            if error.errno == errno.EADDRNOTAVAIL:
                return f"DESK_HOST {host} is not an address of this machine."
            return f"The desk cannot listen on {host} port {port}: {error.strerror}."
    return None


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host.strip("[]"), port)) == 0


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
