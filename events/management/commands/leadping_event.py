"""`python manage.py leadping_event <eventId> [--json]`: one event, from a terminal.

It asks through `services.lookup_event`, like the desk's pages, so the cache, the shared call
budget, single-flight and the stale-copy fallback all apply. Every string from LeadPing is
untrusted: control and formatting characters (terminal escapes, bidi overrides) are shown
escaped, never sent to the terminal as they are.

Exit status: 0 shown, 2 not a valid event ID, 3 LeadPing has no such event, 4 LeadPing (or
the desk's budget) could not answer.
"""

import unicodedata
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from events import leadping, services
from events.event_ids import InvalidEventId
from events.presentation import (
    build_timeline,
    direction_label,
    phone_display,
    status_badge,
    timeline_kind,
    timeline_outcome,
)
from events.request_ids import bound_request_id, new_request_id

EXIT_INVALID_ID = 2
EXIT_NOT_FOUND = 3
EXIT_UPSTREAM = 4
# Past this, a field is cut in the summary (--json shows everything).
SUMMARY_FIELD_LENGTH = 400

# Characters a terminal may act on rather than print: controls, bidi and other format marks,
# line and paragraph separators. Tab and newline are escaped too: one field, one line.
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def terminal_safe(text: str) -> str:
    """`text` with every control or formatting character written as a \\x or \\u escape."""
    return "".join(_escape(char) for char in text)


def _escape(char: str) -> str:
    if unicodedata.category(char) not in _UNSAFE_CATEGORIES:
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def json_terminal_safe(raw_json: str) -> str:
    """Valid JSON text with the same meaning, its unsafe characters written as \\u escapes.

    In valid JSON such characters can only sit inside strings, where \\uXXXX means the same.
    """
    return "".join(
        f"\\u{ord(char):04x}"
        if char not in "\n\t" and unicodedata.category(char) in _UNSAFE_CATEGORIES
        else char
        for char in raw_json
    )


class Command(BaseCommand):
    help = (
        "Show one LeadPing event through the desk's service layer (cache, budget and errors "
        "as on the desk's pages). Exit status: 2 invalid ID, 3 not found, 4 LeadPing error."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("event_id", metavar="eventId", help="The LeadPing event ID.")
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print the event's JSON as LeadPing sent it instead of a summary.",
        )

    def handle(self, *args: Any, event_id: str, json: bool, **options: Any) -> None:
        with bound_request_id(new_request_id()) as request_id:
            snapshot = self._look_up(event_id, request_id)
        if json:
            self.stdout.write(json_terminal_safe(snapshot.detail.raw_json))
            if snapshot.stale_reason:
                self.stderr.write(_freshness(snapshot))
            return
        self.stdout.write("\n".join(summary_lines(snapshot)))

    def _look_up(self, event_id: str, request_id: str) -> services.EventSnapshot:
        try:
            return services.lookup_event(event_id=event_id)
        except InvalidEventId as error:
            raise CommandError(
                f'"{terminal_safe(event_id[:200])}" is not an event ID: {error}',
                returncode=EXIT_INVALID_ID,
            ) from None
        except leadping.EventNotFound as error:
            raise CommandError(f"{event_id}: {error.message}", returncode=EXIT_NOT_FOUND) from None
        except leadping.LeadPingError as error:
            retry = getattr(error, "retry_after", None)
            hint = f" Try again in {max(1, round(retry))} s." if retry else ""
            raise CommandError(
                f"{event_id}: {terminal_safe(error.message)}{hint} (request ID {request_id})",
                returncode=EXIT_UPSTREAM,
            ) from None


def summary_lines(snapshot: services.EventSnapshot) -> list[str]:
    """The event as staff read it on the permalink page, as lines of text."""
    detail = snapshot.detail
    now = timezone.now()
    badge = status_badge(detail.status)
    kind = timeline_kind(detail.timeline_type)
    direction = direction_label(detail.direction)
    fields: list[tuple[str, str | None]] = [
        ("Type", ", ".join(filter(None, [kind.label, direction, detail.event_type]))),
        ("Status", badge.label + ("" if badge.is_final else " (may still change)")),
        ("Reason", detail.status_reason),
        ("Description", detail.description),
        ("Summary", detail.summary),
        ("User", _user(detail)),
        ("From", _phone(detail.from_phone_number)),
        ("To", _phone(detail.to_phone_number)),
        ("Lead", detail.lead_id),
        ("Conversation", detail.conversation_id),
        ("Provider ID", detail.provider_message_id),
    ]
    lines = [f"Event {terminal_safe(detail.id)}"]
    lines += [
        f"  {label + ':':<14}{_shorten(terminal_safe(value))}" for label, value in fields if value
    ]
    timeline = build_timeline(detail, now=now)
    if timeline:
        lines.append("Timeline:")
        for step in timeline:
            since = f"  (+{step.since_previous_text})" if step.since_previous_text else ""
            upcoming = "  (upcoming)" if step.is_upcoming else ""
            lines.append(f"  {_when(step.at, step.raw)}  {step.label}{since}{upcoming}")
        outcome = timeline_outcome(timeline)
        if outcome is not None:
            lines.append(f"  {'Outcome:':<14}{outcome.label}")
    if detail.problems:
        unreadable = ", ".join(terminal_safe(name) for name in detail.problems)
        lines.append(f"Unreadable fields: {unreadable}")
    lines.append(_freshness(snapshot))
    return lines


def _shorten(text: str) -> str:
    if len(text) <= SUMMARY_FIELD_LENGTH:
        return text
    rest = len(text) - SUMMARY_FIELD_LENGTH
    return f"{text[:SUMMARY_FIELD_LENGTH]}… ({rest} more characters; --json shows them)"


def _user(detail: Any) -> str | None:
    user = detail.user
    if user is None:
        return detail.user_id
    if user.name and user.id:
        return f"{user.name} ({user.id})"
    return user.name or user.id


def _phone(raw: str | None) -> str | None:
    shown = phone_display(raw)
    if shown is None:
        return None
    if not shown.parsed:
        return f"{shown.raw} (not a phone number the desk can read)"
    country = f" ({shown.region_name})" if shown.region_name else ""
    return f"{shown.text}{country}"


def _when(at: datetime | None, raw: str) -> str:
    if at is None:
        return f"{terminal_safe(raw)[:25]:<25} (unreadable)"
    return f"{timezone.localtime(at).strftime('%Y-%m-%d %H:%M:%S %Z'):<25}"


def _freshness(snapshot: services.EventSnapshot) -> str:
    age = round(snapshot.age_seconds)
    if snapshot.stale_reason:
        reason = terminal_safe(snapshot.stale_reason)
        return f"Stale copy, {age} s old: LeadPing could not answer now ({reason})"
    if snapshot.from_cache:
        return f"From the desk's cache, {age} s old."
    return "Fresh from LeadPing."
