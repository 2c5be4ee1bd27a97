"""`python manage.py rundesk`: the one command behind `make run`.

Migrates, collects static files, starts the LeadPing sandbox when no API key is configured,
makes sure a demo account exists in sandbox mode, then serves the desk with gunicorn.
"""

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
        # A SIGTERM (from a process manager, or `kill`) must stop the children too.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        children: list[subprocess.Popen[bytes]] = []
        try:
            if settings.LEADPING_SANDBOX:
                sandbox = self._start_sandbox()
                if sandbox is not None:
                    children.append(sandbox)
                self._announce_demo_account()
            desk = self._start_desk(host, port)
            children.append(desk)
            self.stdout.write(
                self.style.SUCCESS(f"LeadPing Event Desk: http://{_url_host(host)}:{port}/")
                + f"  (LeadPing API: {settings.LEADPING_API_BASE_URL}; Ctrl-C stops)"
            )
            desk.wait()
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
                f"Using the LeadPing sandbox already running at {settings.LEADPING_SANDBOX_URL}"
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
        self.stdout.write("Log in with an account made by: python manage.py createsuperuser")

    def _start_desk(self, host: str, port: int) -> subprocess.Popen[bytes]:
        if _port_taken(host, port):
            raise CommandError(f"Port {port} on {host} is taken. Set DESK_PORT to a free port.")
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
    """The environment for gunicorn: HTTPS-only protections off unless set explicitly."""
    return {**_PLAIN_HTTP_DEFAULTS, **os.environ}


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
