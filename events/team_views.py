"""Screens for the team: the lookup audit trail (team admins) and each user's preferences."""

import csv
import threading
import unicodedata
from collections.abc import Iterator

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from events.access import AUDIT_PERMISSION, desk_staff_required
from events.audit import audit_for, filtered_audit, visible_rows
from events.detail import without_bidi_controls
from events.forms import AuditFilterForm, PreferencesForm
from events.middleware import remember_preferences
from events.models import LookupAudit, Preferences

_PAGE_SIZE = 50
_CSV_COLUMNS = [
    "at",
    "username",
    "event_id",
    "kind",
    "outcome",
    "event_type",
    "status",
    "client_ip",
    "user_agent",
]


@require_safe
@desk_staff_required
@permission_required(AUDIT_PERMISSION, raise_exception=True)
# Who looked at what, and what they typed: never kept by the browser or a proxy.
@never_cache
def audit_log(request: HttpRequest) -> HttpResponse:
    """Who looked at what: the audit trail with filters, 50 rows a page."""
    form = AuditFilterForm(request.GET or None)
    rows = LookupAudit.objects.none()
    if form.is_bound and form.is_valid():
        rows = audit_for(request.user, **form.filters())
    elif not form.is_bound:
        rows = filtered_audit()
    page = Paginator(rows, _PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = list(visible_rows(request.user, page.object_list))
    query = form.data.copy() if form.is_bound else request.GET.copy()  # the key redacted
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "retention_days": settings.AUDIT_RETENTION_DAYS,
    }
    return render(request, "events/audit_log.html", context, status=200 if not form.errors else 400)


@require_safe
@desk_staff_required
@permission_required(AUDIT_PERMISSION, raise_exception=True)
# Who looked at what, and what they typed: never kept by the browser or a proxy.
@never_cache
def audit_export(request: HttpRequest) -> HttpResponse:
    """The filtered audit trail as CSV, streamed."""
    form = AuditFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return HttpResponse(
            "Invalid filters.", status=400, content_type="text/plain; charset=utf-8"
        )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    headers = {"Content-Disposition": f'attachment; filename="lookup-audit-{stamp}.csv"'}
    if request.method == "HEAD":
        # gunicorn drops a HEAD's body without reading it to the end: built, it would hold a
        # thread for as long as the whole trail takes to write, long after the client left.
        # Streamed, as a GET's is, so that it claims no length either.
        return StreamingHttpResponse((), content_type=_CSV_TYPE, headers=headers)
    if not _export_slots.acquire(blocking=False):
        # The desk pacing itself, said to the user: a WARNING, not an ERROR (events/logs.py).
        request.failure_expected = True
        return HttpResponse(
            "Other exports of the audit trail are being written right now. Try again in a minute.",
            status=503,
            content_type="text/plain; charset=utf-8",
            headers={"Retry-After": "60"},
        )
    filters = form.filters() if form.is_bound else {}
    rows = audit_for(request.user, every_row=True, **filters)
    lines = _Export(_csv_lines(visible_rows(request.user, rows)))
    return StreamingHttpResponse(lines, content_type=_CSV_TYPE, headers=headers)


_CSV_TYPE = "text/csv; charset=utf-8"
# A whole trail takes a while to write (300,000 rows: 48 s); a few at once per process leave
# the other threads to the desk.
_EXPORTS_AT_ONCE = 2
_export_slots = threading.BoundedSemaphore(_EXPORTS_AT_ONCE)


class _Export:
    """The CSV lines, holding an export slot until the response is closed (sent, or its
    client gone): Django closes what a streaming response iterates when it is closed."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self._lock = threading.Lock()
        self._holds_slot = True

    def __iter__(self) -> Iterator[str]:
        return self._lines

    def close(self) -> None:
        with self._lock:
            if self._holds_slot:
                self._holds_slot = False
                _export_slots.release()


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Iterator[LookupAudit]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    # The byte order mark tells spreadsheets the file is UTF-8 ("Ölaf", "•••0177").
    yield "\ufeff" + writer.writerow(_CSV_COLUMNS)
    for row in rows:
        yield writer.writerow(
            [_csv_safe(str(getattr(row, column) or "")) for column in _CSV_COLUMNS]
        )


# What a spreadsheet may read as the start of a formula, after any leading blanks and
# line breaks (which some strip first), in ASCII or full width.
_FORMULA_STARTS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")


def _csv_safe(value: str) -> str:
    """A cell a spreadsheet shows as text: bidirectional controls as U+FFFD (as on the audit
    page), and a cell that could start a formula (= + - @, after blanks, or a tab or carriage
    return first) quoted with a leading apostrophe."""
    value = without_bidi_controls(value)
    if value and (value[0] in "\t\r" or _first_shown(value) in _FORMULA_STARTS):
        return "'" + value
    return value


def _first_shown(value: str) -> str:
    """The first character of `value` that is neither a blank (of any script, line breaks
    included) nor invisible (a format character: zero-width space, byte order mark…)."""
    for char in value:
        if not char.isspace() and unicodedata.category(char) != "Cf":
            return char
    return ""


@require_http_methods(["GET", "HEAD", "POST"])
@desk_staff_required
def preferences(request: HttpRequest) -> HttpResponse:
    """The user's own time zone and refresh interval."""
    current = Preferences.objects.filter(user=request.user).first() or Preferences(
        user=request.user
    )
    form = PreferencesForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        remember_preferences(request, saved)
        messages.success(request, "Preferences saved.")
        return redirect("events:preferences")
    context = {"form": form, "default_time_zone": settings.TIME_ZONE}
    return render(request, "events/preferences.html", context, status=400 if form.errors else 200)
