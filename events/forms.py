from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone

from events.logs import redact
from events.models import LookupAudit, Preferences

# The audit trail's dates: far enough either way for any lookup, and day bounds that stay
# within datetime's range in every time zone (year 1 or 9999 would overflow, a 500).
_EARLIEST_DAY = date(1970, 1, 1)
_LATEST_DAY = date(2199, 12, 31)
_DAY_RANGE = [
    MinValueValidator(_EARLIEST_DAY, f"Pick a date from {_EARLIEST_DAY:%Y-%m-%d} on."),
    MaxValueValidator(_LATEST_DAY, f"Pick a date up to {_LATEST_DAY:%Y-%m-%d}."),
]


class AuditFilterForm(forms.Form):
    """The team admin's filters over the audit trail; every field is optional."""

    user = forms.CharField(required=False, max_length=150, label="User contains")
    event_id = forms.CharField(required=False, max_length=200, label="Event ID contains")
    outcome = forms.ChoiceField(
        required=False, choices=[("", "Any outcome"), *LookupAudit.Outcome.choices]
    )
    since = forms.DateField(
        required=False,
        label="From",
        validators=_DAY_RANGE,
        widget=forms.DateInput({"type": "date"}),
    )
    until = forms.DateField(
        required=False,
        label="To (inclusive)",
        validators=_DAY_RANGE,
        widget=forms.DateInput({"type": "date"}),
    )

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        # The API key pasted as a filter is neither shown back nor searched for: lookups of
        # it are kept as "[redacted]", which is what the filter then finds.
        if data is not None and data.get("event_id"):
            data = data.copy()
            data["event_id"] = redact(data["event_id"])
        super().__init__(data, *args, **kwargs)

    def clean(self) -> dict:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The start date is after the end date.")
        return data

    def filters(self) -> dict:
        """Keyword arguments for events.audit.filtered_audit (dates as day bounds)."""
        data = self.cleaned_data
        return {
            "username": data.get("user", "").strip(),
            "event_id": data.get("event_id", "").strip(),
            "outcome": data.get("outcome", ""),
            "since": _day_start(data.get("since")),
            "until": _day_start(data["until"] + timedelta(days=1)) if data.get("until") else None,
        }


def _day_start(day) -> datetime | None:
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, time.min))


class PreferencesForm(forms.ModelForm):
    class Meta:
        model = Preferences
        fields = ["time_zone", "poll_seconds"]

        labels = {
            "time_zone": "Show times in",
            "poll_seconds": "Refresh live events every (seconds)",
        }
        help_texts = {
            "time_zone": "Leave empty to use the desk's time zone.",
            "poll_seconds": (
                f"Between {Preferences.MIN_POLL_SECONDS} and {Preferences.MAX_POLL_SECONDS}; "
                "empty uses the desk's default."
            ),
        }

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        zone = self.fields["time_zone"]
        zone.choices = [("", f"The desk's time zone ({settings.TIME_ZONE})"), *zone.choices[1:]]
        # The browser can then say so before sending (the model's validators still decide).
        self.fields["poll_seconds"].widget.attrs.update(
            min=Preferences.MIN_POLL_SECONDS, max=Preferences.MAX_POLL_SECONDS
        )
