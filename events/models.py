import zoneinfo

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class EventAccess(models.Model):
    """Carries the desk's permissions; LeadPing owns the events, so there is no table."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("lookup_event", "Can look up LeadPing events"),
            ("view_full_phone_numbers", "Can see full phone numbers"),
        ]

    def __str__(self) -> str:
        return "LeadPing event access"


class AppendOnlyError(RuntimeError):
    """Audit rows are never changed or deleted, except by the retention command."""


class LookupAuditQuerySet(models.QuerySet):
    def update(self, **kwargs: object) -> int:
        raise AppendOnlyError("The lookup audit trail is append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("The lookup audit trail is append-only; see prune_lookup_audit.")

    def prune(self, *, before: "timezone.datetime") -> int:
        """Delete rows older than `before` (the retention command's only way in)."""
        return super(LookupAuditQuerySet, self.filter(at__lt=before)).delete()[0]


class LookupAudit(models.Model):
    """Who looked up which event, when, and what came of it. Append-only."""

    class Kind(models.TextChoices):
        PAGE = "page", "Event page"
        DOWNLOAD = "download", "Raw JSON download"
        SEARCH = "search", "Lookup form"

    class Outcome(models.TextChoices):
        FOUND = "found", "Found"
        NOT_FOUND = "not_found", "Not found"
        INVALID_ID = "invalid_id", "Invalid ID"
        NOT_AUTHORISED = "not_authorised", "API key refused"
        RATE_LIMITED = "rate_limited", "Rate limited"
        UNAVAILABLE = "unavailable", "LeadPing unavailable"
        BAD_PAYLOAD = "bad_payload", "Unreadable answer"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150)
    event_id = models.CharField("event ID", max_length=200, db_index=True)
    kind = models.CharField(max_length=16, choices=Kind)
    outcome = models.CharField(max_length=16, choices=Outcome, db_index=True)
    event_type = models.CharField(max_length=200, blank=True)
    status = models.CharField("status at the time", max_length=100, blank=True)
    client_ip = models.GenericIPAddressField("client IP", null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    objects = LookupAuditQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        default_permissions = ("view",)
        indexes = [models.Index(fields=["user", "-at"])]

    def __str__(self) -> str:
        return f"{self.username} {self.kind} {self.event_id} {self.outcome}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise AppendOnlyError("The lookup audit trail is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("The lookup audit trail is append-only.")


def _time_zone_choices() -> list[tuple[str, str]]:
    """Places (Area/City) and UTC: not the database's internals ("Factory", "localtime",
    "posixrules") nor "Etc/GMT+5", whose sign is the reverse of what it reads."""
    names = sorted(
        name
        for name in zoneinfo.available_timezones()
        if name == "UTC" or ("/" in name and not name.startswith(("Etc/", "SystemV/")))
    )
    return [(name, name.replace("_", " ")) for name in names]


class Preferences(models.Model):
    """A staff member's own settings: the zone times are shown in and how often pages refresh."""

    MIN_POLL_SECONDS = 2
    MAX_POLL_SECONDS = 300

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="desk_preferences"
    )
    time_zone = models.CharField(max_length=64, choices=_time_zone_choices, blank=True)
    poll_seconds = models.PositiveSmallIntegerField(
        "refresh every (seconds)",
        null=True,
        blank=True,
        validators=[MinValueValidator(MIN_POLL_SECONDS), MaxValueValidator(MAX_POLL_SECONDS)],
    )

    class Meta:
        verbose_name_plural = "preferences"

    def __str__(self) -> str:
        return f"Preferences of {self.user}"
