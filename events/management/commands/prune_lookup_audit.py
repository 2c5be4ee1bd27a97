"""`python manage.py prune_lookup_audit [--days N]`: the one way audit rows are deleted."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from events.models import LookupAudit


class Command(BaseCommand):
    help = "Delete lookup audit rows older than the retention period (AUDIT_RETENTION_DAYS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=settings.AUDIT_RETENTION_DAYS,
            help="Keep this many days (default: AUDIT_RETENTION_DAYS).",
        )

    def handle(self, *args: Any, days: int, **options: Any) -> None:
        if days < 1:
            self.stderr.write("--days must be at least 1.")
            raise SystemExit(2)
        before = timezone.now() - timedelta(days=days)
        deleted = LookupAudit.objects.prune(before=before)
        self.stdout.write(f"Deleted {deleted} audit row(s) older than {before:%Y-%m-%d %H:%M} UTC.")
