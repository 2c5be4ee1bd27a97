"""The lookup audit trail: one row per lookup, written in one INSERT, read by team admins."""

import functools
import ipaddress
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import partial
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connections, router
from django.http import HttpRequest
from django.utils import timezone

from events import after_response
from events.access import FULL_NUMBERS_PERMISSION, client_ip, visible_text
from events.logs import redact
from events.models import LookupAudit

logger = logging.getLogger(__name__)

_MAX_EVENT_ID = 200
_MAX_USER_AGENT = 300
RECENT_LIMIT = 10


def record_lookup(
    request: HttpRequest,
    *,
    event_id: str,
    kind: str,
    outcome: str,
    event_type: str | None = None,
    status: str | None = None,
) -> None:
    """Append one audit row for a lookup made by `request.user`.

    What the row holds is taken now (its time included); the row is built and inserted right
    after the response has been sent, so the viewer does not wait for it (events.after_response).
    """
    user = request.user if request.user.is_authenticated else None
    fields = {
        "at": timezone.now(),
        "user": user,
        "username": user.get_username() if user else "",
        "event_id": _storable(event_id, _MAX_EVENT_ID),
        "kind": kind,
        "outcome": outcome,
        "event_type": _storable(event_type, 200),
        "status": _storable(status, 100),
        "client_ip": client_ip(request),
        "user_agent": _storable(_header_text(request.headers.get("User-Agent")), _MAX_USER_AGENT),
    }
    after_response.defer(partial(_insert, fields))


def _header_text(value: str | None) -> str | None:
    """A header as its sender wrote it: WSGI reads header bytes as Latin-1, so a browser's
    UTF-8 ("Mozilla/5.0 … Größe") arrives as mojibake ("GrÃ¶ÃŸe"); bytes that are not UTF-8
    stay as read."""
    if value is None or value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _storable(text: str | None, limit: int) -> str:
    """Text as every database can keep it: cut to `limit`, NUL (which PostgreSQL refuses in
    text) shown as U+FFFD, and credentials (the API key pasted as an ID) [redacted]. What
    was typed and what LeadPing sent both end up here."""
    return redact((text or "")[:limit]).replace("\x00", "\ufffd")


def _insert(fields: dict[str, Any]) -> None:
    try:
        connection = connections[router.db_for_write(LookupAudit)]
        user = fields["user"]
        row = {
            **fields,
            "user_id": user.pk if user else None,
            "client_ip": _valid_ip(fields["client_ip"]),
        }
        with connection.cursor() as cursor:
            cursor.execute(
                _insert_sql(connection.alias),
                [field.get_db_prep_save(row[field.attname], connection) for field in _COLUMNS],
            )
    except Exception:
        # Past the response nothing can be shown to the viewer: the log keeps the row.
        logger.exception(
            "could not write the audit row: at=%s user=%s kind=%s event_id=%s outcome=%s",
            fields["at"].isoformat(),
            fields["username"],
            fields["kind"],
            fields["event_id"],
            fields["outcome"],
        )


# Every column but the id, given by record_lookup: the row is one plain INSERT, without
# Model.save()'s signals, RETURNING and query compilation (0.3 ms of every lookup's CPU).
_COLUMNS = tuple(field for field in LookupAudit._meta.concrete_fields if not field.primary_key)


@functools.cache
def _insert_sql(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    # Only the model's own quoted names go into the SQL; every value is a parameter.
    return "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608
        quote(LookupAudit._meta.db_table),
        ", ".join(quote(field.column) for field in _COLUMNS),
        ", ".join(["%s"] * len(_COLUMNS)),
    )


def _valid_ip(address: str) -> str | None:
    """The client's address (events.access.client_ip), if valid."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def recent_lookups(user: AbstractBaseUser | None = None) -> list[LookupAudit]:
    """The last RECENT_LIMIT distinct events found, by `user` or (None) by the whole team."""
    rows = LookupAudit.objects.filter(outcome=LookupAudit.Outcome.FOUND).select_related(None)
    if user is not None:
        rows = rows.filter(user=user)
    return _distinct_events(rows.order_by("-at", "-id")[: RECENT_LIMIT * 5])


def visible_rows(user: Any, rows: Iterable[LookupAudit]) -> Iterator[LookupAudit]:
    """Audit rows as `user` may see them. The status and type were kept as LeadPing sent
    them ("Bounced by +1 415 555 0124") and the ID as typed (a pasted phone number is
    recorded too): phone numbers in them are masked without the full-numbers permission."""
    for row in rows:
        shown = visible_text(user, row.event_id) or ""
        # A masked ID is no link: it leads nowhere ("live-•••0198" is no event), and the
        # event's own would show the number in the address bar.
        row.id_masked = shown != row.event_id
        row.event_id = shown
        row.status = visible_text(user, row.status)
        row.event_type = visible_text(user, row.event_type)
        yield row


def _distinct_events(rows: Iterable[LookupAudit]) -> list[LookupAudit]:
    seen: set[str] = set()
    recent: list[LookupAudit] = []
    for row in rows:
        if row.event_id not in seen:
            seen.add(row.event_id)
            recent.append(row)
        if len(recent) == RECENT_LIMIT:
            break
    return recent


# Rows read, at the most, to find those whose ID holds a filter as a viewer without the
# full-numbers permission sees the ID (see audit_for).
MASKED_FILTER_ROWS = 2000


def audit_for(user: Any, *, every_row: bool = False, **filters: Any) -> Iterable[LookupAudit]:
    """filtered_audit(**filters) for `user`. Without the full-numbers permission, an ID
    filter with a digit in it is matched against the IDs as the user sees them: matched
    against the IDs as typed, it would tell whether a masked number holds those digits
    ("1-415-555" finds the row shown as "•••0123", "1-415-556" none). The newest
    MASKED_FILTER_ROWS rows the database finds are read for it. With `every_row` (the CSV
    export), every row is read, as an iterator."""
    rows = filtered_audit(**filters)
    wanted = filters.get("event_id", "").casefold()
    as_seen = any(char.isdigit() for char in wanted) and not user.has_perm(FULL_NUMBERS_PERMISSION)
    if not as_seen:
        return rows.iterator(chunk_size=1000) if every_row else rows
    candidates = rows.iterator(chunk_size=1000) if every_row else rows[:MASKED_FILTER_ROWS]
    seen = (
        row for row in candidates if wanted in (visible_text(user, row.event_id) or "").casefold()
    )
    return seen if every_row else list(seen)


def filtered_audit(
    *,
    username: str = "",
    event_id: str = "",
    outcome: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
):
    """Audit rows matching the team admin's filters, newest first."""
    rows = LookupAudit.objects.all()
    if username:
        rows = rows.filter(username__icontains=username)
    if event_id:
        rows = rows.filter(event_id__icontains=event_id)
    if outcome:
        rows = rows.filter(outcome=outcome)
    if since is not None:
        rows = rows.filter(at__gte=since)
    if until is not None:
        rows = rows.filter(at__lt=until)
    return rows.order_by("-at", "-id")
