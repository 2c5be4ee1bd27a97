from django.db import models


class EventAccess(models.Model):
    """Carries the desk's permissions; LeadPing owns the events, so there is no table."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("lookup_event", "Can look up LeadPing events")]

    def __str__(self) -> str:
        return "LeadPing event access"
