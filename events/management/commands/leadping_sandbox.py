"""`python manage.py leadping_sandbox`: serve the built-in LeadPing sandbox until Ctrl-C or SIGTERM.

The special event ids and extra paths it answers are listed in events/sandbox/server.py.
"""

import contextlib
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from events.sandbox.server import SandboxServer


class Command(BaseCommand):
    help = "Serve the LeadPing sandbox: a local fake of GET /events/{eventId}/detail."
    # The sandbox reads no database and no desk setting but its key and port, so a failing
    # system check of the desk must not keep it from starting.
    requires_system_checks = ()

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument(
            "--port",
            type=int,
            default=None,
            help="Port to listen on; 0 picks a free one (default: LEADPING_SANDBOX_PORT).",
        )
        parser.add_argument(
            "--latency-ms", type=int, default=0, help="Delay added to every answer."
        )
        parser.add_argument(
            "--live-seconds",
            type=float,
            default=60.0,
            help="How long a live-* event takes from Pending to Completed.",
        )
        parser.add_argument(
            "--rate-limit",
            type=int,
            default=0,
            help="Detail calls allowed per 60 s window before 429s; 0 turns the limit off.",
        )
        parser.add_argument("--quiet", action="store_true", help="Log no line per request.")

    def handle(
        self,
        *args: Any,
        host: str,
        port: int | None,
        latency_ms: int,
        live_seconds: float,
        rate_limit: int,
        quiet: bool,
        **options: Any,
    ) -> None:
        port = settings.LEADPING_SANDBOX_PORT if port is None else port
        if not 0 <= port <= 65535:
            raise CommandError("--port must be between 0 and 65535.")
        if latency_ms < 0 or live_seconds < 0 or rate_limit < 0:
            raise CommandError("--latency-ms, --live-seconds and --rate-limit cannot be negative.")
        try:
            sandbox = SandboxServer(
                host=host,
                port=port,
                api_key=settings.LEADPING_SANDBOX_KEY,
                latency_ms=latency_ms,
                live_seconds=live_seconds,
                rate_limit=rate_limit,
                quiet=quiet,
            )
        except OSError as error:
            raise CommandError(f"Cannot listen on {host} port {port}: {error.strerror}") from error
        self.stdout.write(f"LeadPing sandbox listening on {sandbox.base_url}")
        # A parent process (rundesk, a test) may be waiting on a pipe for that line.
        self.stdout.flush()
        if threading.current_thread() is threading.main_thread():
            # SIGTERM (rundesk stopping its children, docker stop) ends it like Ctrl-C does.
            signal.signal(signal.SIGTERM, signal.default_int_handler)
        with contextlib.suppress(KeyboardInterrupt):
            sandbox.serve_forever()
