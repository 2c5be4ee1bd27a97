"""Roles, masking, the audit trail, recent lookups and preferences (the team-admin issue)."""

import csv
import io
import json
import sys
import threading
from datetime import timedelta
from unittest import mock

import phonenumbers
import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group, Permission, User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from events import leadping, masking, team_views, views
from events.models import AppendOnlyError, LookupAudit, Preferences
from events.services import EventSnapshot
from tests.conftest import TEST_API_KEY, event_from, role

pytestmark = pytest.mark.django_db

SMS_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


def snapshot(name: str = "sms_delivered.json", **changes) -> EventSnapshot:
    return EventSnapshot(detail=event_from(name, **changes), fetched_at=timezone.now())


@pytest.fixture
def lookup_event():
    with mock.patch("events.services.lookup_event") as patched:
        patched.return_value = snapshot(summary="Call me back on +1 415 555 0199 please")
        yield patched


# --- roles --------------------------------------------------------------------------------


def test_the_roles_exist_with_their_permissions():
    support = {p.codename for p in role("Support").permissions.all()}
    admins = {p.codename for p in role("Team admin").permissions.all()}
    assert support == {"lookup_event", "view_full_phone_numbers"}
    assert {"lookup_event", "view_full_phone_numbers", "view_lookupaudit", "add_user"} <= admins
    assert "delete_user" not in admins


# --- masked phone numbers -----------------------------------------------------------------


def test_support_sees_full_numbers(staff_client, lookup_event):
    html = staff_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()
    assert "+1 415-555-0132" in html
    assert "+1 415 555 0199" in html


def test_without_the_permission_numbers_show_only_their_last_four_digits(
    masked_client, lookup_event
):
    html = masked_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()
    assert "•••0132" in html
    assert "•••0958" in html
    assert "•••0199" in html
    for secret in ["4155550132", "415-555-0132", "+14155550132", "7946 0958", "555 0199"]:
        assert secret not in html, secret
    assert 'href="tel:' not in html


def test_masking_also_covers_the_fragment_and_the_download(masked_client, lookup_event):
    lookup_event.return_value = snapshot(status="InProgress")
    fragment = masked_client.get(
        reverse("events:status", args=[SMS_ID]), headers={"HX-Request": "true"}
    )
    download = masked_client.get(reverse("events:raw", args=[SMS_ID]))
    for response in (fragment, download):
        assert b"4155550132" not in response.content
        assert b"442079460958" not in response.content
    assert "•••0132" in download.content.decode()


def test_masking_covers_numbers_in_every_field_the_page_shows(masked_client, lookup_event):
    lookup_event.return_value = snapshot(
        secondaryEventType="Reply from +14155552675",
        eventCategory="Lead +14155552676",
        timelineCategory="+1 415 555 2677",
        direction="Outbound to +14155552678",
        status="Sent to +14155552681",
        conversationId="+14155552682",
        providerMessageId="+14155552683",
        leadId="+14155552684",
        userId="+14155552685",
        user={"id": "+14155552686", "name": "Desk +14155552687"},
        createdAt="+14155552688",
        fullPayload='{"contact": {"mobile": 14155552671, "cell_phone": "+1 415 555 2672"}}',
        extra={"cell": 14155552673, "count": 12, "when": 1764250000000, "ok": True},
    )
    page = masked_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()
    download = masked_client.get(reverse("events:raw", args=[SMS_ID])).content.decode()
    for text in (page, download):
        for number in range(2671, 2689):
            assert f"555{number}" not in text.replace(" ", "").replace("-", ""), number
    assert "•••2675" in page
    assert "•••2688" in page
    # Numbers that are not phone numbers stay as they are.
    assert '"count": 12' in download
    assert '"when": 1764250000000' in download


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Call+14155550123now about lead", "Call•••0123now about lead"),
        ("dest ID14155550124", "dest ID•••0124"),
        ("reach me at cell14155550126asap", "reach me at cell•••0126asap"),
        ("SMS to +442079460958x bounced", "SMS to •••0958x bounced"),
        ("0044 20 7946 0958", "•••0958"),
        ("442079460958", "•••0958"),
        # Right after another number: the run's digits are no number, its tail is.
        ("Attempt 3 415 555 0123", "Attempt 3 •••0123"),
        ("Room 101 212 555 0199 today", "Room 101 •••0199 today"),
        # Other separators, and a number run on from a hexadecimal ID.
        ("415·555·0123", "•••0123"),
        ("415_555_0123", "•••0123"),
        ("415|555|0123", "•••0123"),
        ("+1 415     555     0123", "•••0123"),  # a run of blanks
        ("https://wa.example/?to=%2B1%20415%20555%200123", "https://wa.example/?to=%2B•••0123"),
        ("ref a1b2c3d4e5f6a7b8-4155550123", "ref a1b2c3d4e5f6a7b8-•••0123"),
    ],
)
def test_numbers_glued_to_words_or_written_internationally_are_masked(text, masked):
    assert masking.mask_text(text, region="US") == masked


@pytest.mark.parametrize(
    "hidden",
    [
        "\u200e",  # left-to-right mark: what numbers copied from right-to-left apps carry
        "\u200d",  # zero-width joiner
        "\u2066",  # left-to-right isolate
        "\u0301",  # a combining accent on each digit
        "\ufe0f",  # a variation selector
        "\u3164",  # a Hangul filler: shows as a blank
        "\U000e0020",  # a tag space
        "\ufffd",  # what a direction mark is shown as: replaced before masking
    ],
)
def test_invisible_characters_between_digits_do_not_hide_a_number(hidden):
    text = "Call +1" + hidden + hidden.join("415") + hidden + "555" + hidden + "0123 now"
    assert masking.mask_text(text, region="US") == "Call •••0123 now"


@pytest.mark.parametrize(
    "text",
    [
        "lead 84441602-85b4-4cb4-85d6-e626770e5d29",  # "844 416 0285" inside a GUID
        "at 2026-11-28T03:27:59.885Z",
        "order 1234567",
        "at 2026-11-28 03:27:59",
        "evt_84441602-85b4-4cb4-85d6-e626770e5d29",  # a GUID behind a prefix
        "SM84441602855b4cb485d6e626770e5d29",  # a provider's SID: letters and hex
        "total 1,234,567,890 USD",
        # Amounts and times: "," and ":" are no separators of a number.
        "Charged $50,827,072.31 at 11/04/2022 06:18:41",
        "created 2023-11-07T05:31:56.262768Z and 2023-11-07T05:31:56.2627681Z",
        "window 12:35:33-12:56:04",
        "1.234.567,89 EUR",
        "Nov 7, 2023 5:31:56 AM",
        "at 2026-11-28 20:27:59",
        "26.08.2020 01:15:26",
        "at 04:57:49.774658",
        # Dotted quads: IPv4 addresses and versions.
        "from 218.4.184.194",
        "app 48.864.357.287",
    ],
)
def test_ids_and_dates_holding_long_digit_runs_are_left_alone(text):
    assert masking.mask_text(text, region="US") == text


def test_past_the_matchers_budget_unicode_dashes_do_not_hide_a_number():
    masker = masking._Masker("US", budget=10)
    text = "x" * 20 + " 415 \u2013 555 \u2013 0123 and +1\u2011415\u2011555\u20110124"
    assert masker.text(text) == "x" * 20 + " •••0123 and •••0124"


def test_json_keys_that_name_phone_numbers():
    for key in ["phone", "toPhoneNumber", "mobile", "cell_phone", "faxNo", "MSISDN", "phones"]:
        assert masking.is_phone_key(key), key
    for key in ["fromPhoneNumberId", "hotel", "telemetry", "count", "number", ""]:
        assert not masking.is_phone_key(key), key


def test_a_number_past_what_the_matcher_reads_is_masked_too(masked_client, lookup_event):
    lookup_event.return_value = snapshot(
        summary="x" * (masking.MATCHER_BUDGET + 100) + " call +1 415-555-0177 back"
    )
    html = masked_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()
    assert "415-555-0177" not in html
    assert "•••0177 back" in html


def test_a_huge_answer_is_masked_within_the_matchers_budget(masked_client, lookup_event):
    numbers = [f"+1 415-555-{n:04}" for n in range(2000)]
    lookup_event.return_value = snapshot(
        description=" ".join(f"call {number} now" for number in numbers)
    )
    read = []
    real_matcher = phonenumbers.PhoneNumberMatcher

    def counting_matcher(text, region, *args):
        read.append(len(text))
        return real_matcher(text, region, *args)

    with mock.patch.object(phonenumbers, "PhoneNumberMatcher", counting_matcher):
        page = masked_client.get(reverse("events:detail", args=[SMS_ID]))
        download = masked_client.get(reverse("events:raw", args=[SMS_ID]))

    # The event is masked once for both answers, reading at most the budget.
    assert 0 < sum(read) <= masking.MATCHER_BUDGET
    for response in (page, download):
        text = response.content.decode()
        assert not any(number in text for number in numbers)
        assert "•••1999" in text


def test_few_large_answers_are_kept_masked_in_memory(masked_client, lookup_event):
    views._masked_large.cache_clear()
    for n in range(6):
        # Over 16,000 characters of JSON: a megabyte answer masked is megabytes more.
        lookup_event.return_value = snapshot(description=f"{n} call +1 415 555 0123 " * 800)
        page = masked_client.get(reverse("events:detail", args=[SMS_ID]))
        assert "•••0123" in page.content.decode()
    assert views._masked_large.cache_info().currsize == 4


def test_numbers_in_the_json_are_checked_within_the_budget_then_masked_by_length():
    # 80,000 numbers of a phone number's length: each is parsed until the budget is spent
    # (it once took seconds a page), then masked for its length alone.
    document = {"id": SMS_ID, "readings": [4155550000 + n for n in range(80_000)], "count": 12}
    checked = []
    real_check = masking.is_phone_number_digits

    def counting_check(digits, region):
        checked.append(digits)
        return real_check(digits, region)

    with mock.patch.object(masking, "is_phone_number_digits", counting_check):
        masked = json.loads(masking._Masker("US").json_text(json.dumps(document)))

    assert len(checked) <= masking.MATCHER_BUDGET // 10
    assert all(reading.startswith("•••") for reading in masked["readings"])
    assert masked["count"] == 12


def test_a_json_document_nested_past_the_recursion_limit_is_masked_and_stays_json():
    depth = sys.getrecursionlimit() + 100
    text = "[" * depth + '"call +1 415 555 0123", 4155550124' + "]" * depth
    masked = masking._Masker("US").json_text(text)
    innermost = json.loads(masked)
    for _ in range(depth - 1):
        innermost = innermost[0]
    assert innermost == ["call •••0123", "•••0124"]


# --- audit trail --------------------------------------------------------------------------


def test_a_permalink_view_is_recorded_with_what_was_found(staff_client, lookup_event, staff_user):
    staff_client.get(
        reverse("events:detail", args=[SMS_ID]),
        headers={"User-Agent": "Mozilla/5.0 test"},
        REMOTE_ADDR="10.1.2.3",
    )
    row = LookupAudit.objects.get()
    assert row.user == staff_user
    assert row.username == "sam"
    assert row.event_id == SMS_ID
    assert row.kind == LookupAudit.Kind.PAGE
    assert row.outcome == LookupAudit.Outcome.FOUND
    assert row.event_type == "Sms"
    assert row.status == "Completed"
    assert row.client_ip == "10.1.2.3"
    assert row.user_agent == "Mozilla/5.0 test"


def test_behind_a_trusted_proxy_the_audit_records_the_address_it_saw(
    staff_client, lookup_event, settings
):
    settings.TRUSTED_PROXY_COUNT = 1
    staff_client.get(
        reverse("events:detail", args=[SMS_ID]),
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7",
    )
    assert LookupAudit.objects.get().client_ip == "203.0.113.7"


def test_a_user_agent_sent_as_utf_8_is_recorded_as_written(staff_client, lookup_event):
    # As a WSGI server hands the header over: its bytes read as Latin-1.
    sent = "Mozilla/5.0 Größe\xa0=1".encode().decode("latin-1")
    staff_client.get(reverse("events:detail", args=[SMS_ID]), headers={"User-Agent": sent})
    assert LookupAudit.objects.get().user_agent == "Mozilla/5.0 Größe\xa0=1"


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (leadping.EventNotFound(), "not_found"),
        (leadping.UpstreamUnavailable(), "unavailable"),
        (leadping.RateLimited(retry_after=3), "rate_limited"),
        (leadping.BadPayload(), "bad_payload"),
        (leadping.NotAuthorised(), "not_authorised"),
    ],
)
def test_failed_lookups_are_recorded_with_their_error_kind(
    staff_client, lookup_event, error, outcome
):
    lookup_event.side_effect = error
    staff_client.get(reverse("events:detail", args=[SMS_ID]))
    assert LookupAudit.objects.get().outcome == outcome


def test_invalid_ids_and_searches_are_recorded(staff_client, lookup_event):
    staff_client.get(reverse("events:detail", args=["a@b"]))
    staff_client.get(reverse("events:lookup"), {"q": "no id in here"})
    rows = {(row.kind, row.outcome, row.event_id) for row in LookupAudit.objects.all()}
    assert rows == {("page", "invalid_id", "a@b"), ("search", "invalid_id", "no id in here")}


def test_downloads_are_recorded_and_polls_are_not(staff_client, lookup_event):
    staff_client.get(reverse("events:raw", args=[SMS_ID]))
    staff_client.get(reverse("events:status", args=[SMS_ID]), headers={"HX-Request": "true"})
    assert list(LookupAudit.objects.values_list("kind", flat=True)) == ["download"]


def test_audit_rows_cannot_be_changed_or_deleted(staff_user):
    row = LookupAudit.objects.create(
        user=staff_user, username="sam", event_id="e1", kind="page", outcome="found"
    )
    row.outcome = "not_found"
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()
    with pytest.raises(AppendOnlyError):
        LookupAudit.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        LookupAudit.objects.update(outcome="x")
    assert LookupAudit.objects.get().outcome == "found"


def test_the_admin_offers_no_way_to_edit_the_audit_trail(admin_client, staff_user):
    row = LookupAudit.objects.create(username="sam", event_id="e1", kind="page", outcome="found")
    assert admin_client.get("/admin/events/lookupaudit/").status_code == 200
    assert admin_client.get("/admin/events/lookupaudit/add/").status_code == 403
    assert admin_client.post(f"/admin/events/lookupaudit/{row.pk}/delete/").status_code == 403
    assert LookupAudit.objects.count() == 1


def test_the_prune_command_deletes_only_rows_past_retention():
    old = LookupAudit.objects.create(
        username="a",
        event_id="old",
        kind="page",
        outcome="found",
        at=timezone.now() - timedelta(days=400),
    )
    LookupAudit.objects.create(username="a", event_id="new", kind="page", outcome="found")
    call_command("prune_lookup_audit", days=365, stdout=io.StringIO())
    assert list(LookupAudit.objects.values_list("event_id", flat=True)) == ["new"]
    assert not LookupAudit.objects.filter(pk=old.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_lookups_lose_no_audit_rows(staff_user, lookup_event):
    clients = []
    for _ in range(8):
        client = Client()
        client.force_login(staff_user)
        clients.append(client)
    statuses = []

    def view(client):
        try:
            for _ in range(5):
                statuses.append(client.get(reverse("events:detail", args=[SMS_ID])).status_code)
        finally:
            # Each thread has its own (persistent) connection: left open, PostgreSQL cannot
            # drop the test database at the end of the run.
            connection.close()

    threads = [threading.Thread(target=view, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 40
    assert LookupAudit.objects.filter(kind="page").count() == 40


# --- browsing the audit trail -------------------------------------------------------------


@pytest.fixture
def audit_rows(staff_user, team_admin):
    now = timezone.now()
    rows = [
        ("sam", "evt-aaa", "found", now - timedelta(days=3)),
        ("sam", "evt-bbb", "not_found", now - timedelta(days=1)),
        ("tess", "evt-aaa", "found", now),
        ("tess", "=HYPERLINK(1)", "invalid_id", now),
    ]
    for username, event_id, outcome, at in rows:
        LookupAudit.objects.create(
            username=username, event_id=event_id, kind="page", outcome=outcome, at=at
        )


def test_the_audit_table_shows_bidi_controls_as_replacement_characters(team_admin_client):
    LookupAudit.objects.create(
        username="ev\u202eil",
        event_id="evt-\u202e1cba",
        kind="search",
        outcome="invalid_id",
        status="Sent\u2066",
        user_agent="agent\u202e",
        at=timezone.now(),
    )
    html = team_admin_client.get(reverse("events:audit")).content.decode()
    assert not any(control in html for control in "\u202e\u2066")
    assert "evt-\ufffd1cba" in html and "ev\ufffdil" in html and "agent\ufffd" in html


def test_team_admins_browse_the_audit_trail_with_filters(team_admin_client, audit_rows):
    response = team_admin_client.get(reverse("events:audit"))
    assert response.status_code == 200
    assert len(response.context["page"]) == 4
    response = team_admin_client.get(reverse("events:audit"), {"user": "SAM"})
    assert {r.event_id for r in response.context["page"]} == {"evt-aaa", "evt-bbb"}
    # Part of a name finds it, as part of an event ID does.
    response = team_admin_client.get(reverse("events:audit"), {"user": "es"})
    assert {r.username for r in response.context["page"]} == {"tess"}
    response = team_admin_client.get(reverse("events:audit"), {"event_id": "aaa"})
    assert len(response.context["page"]) == 2
    response = team_admin_client.get(reverse("events:audit"), {"outcome": "not_found"})
    assert [r.event_id for r in response.context["page"]] == ["evt-bbb"]
    today = timezone.localdate()
    response = team_admin_client.get(
        reverse("events:audit"),
        {"since": (today - timedelta(days=2)).isoformat(), "until": today.isoformat()},
    )
    assert len(response.context["page"]) == 3


def test_bad_audit_filters_get_a_message_not_a_500(team_admin_client, audit_rows):
    response = team_admin_client.get(
        reverse("events:audit"), {"since": "2026-12-31", "until": "2026-01-01"}
    )
    assert response.status_code == 400
    response = team_admin_client.get(reverse("events:audit"), {"since": "yesterday"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "dates",
    [
        {"until": "9999-12-31"},
        {"since": "9999-12-31"},
        {"since": "0001-01-01"},
        {"until": "0001-01-01"},
    ],
)
@pytest.mark.parametrize("page", ["events:audit", "events:audit_export"])
@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "Etc/GMT+12"])
def test_audit_dates_at_the_ends_of_the_calendar_get_a_message_not_a_500(
    team_admin_client, audit_rows, dates, page, zone
):
    with timezone.override(zone):
        response = team_admin_client.get(reverse(page), dates)
    assert response.status_code == 400
    if page == "events:audit":
        assert b"Pick a date" in response.content


@pytest.mark.parametrize(
    "query",
    [
        {"outcome__exact": "\x00"},
        {"kind__exact": "found\x00"},
        {"q": "a\x00b"},
        {"user__username\x00": "x"},
    ],
)
def test_a_nul_in_an_admin_filter_is_a_400_not_a_database_error(team_admin_client, query):
    # PostgreSQL refuses NUL in text: the admin would put it straight into the query.
    response = team_admin_client.get(reverse("admin:events_lookupaudit_changelist"), query)
    assert response.status_code == 400
    assert team_admin_client.get(reverse("admin:auth_user_changelist"), query).status_code == 400


@pytest.mark.parametrize(
    "query",
    [
        {"at__year": "9999"},  # the drill-down's end would be year 10000
        {"at__year": "99999999999"},  # OverflowError, which Django's ChangeList lets out
        {"at__year": "2026", "at__month": "99999999999"},
        {"at__year": "2026", "at__month": "11", "at__day": "32"},
        {"at__year": "٢٠٢٦"},  # Arabic-Indic digits: isdigit, but no year for a query
        # Lookups on a date's parts the admin never makes, which fail when the query runs.
        {"at__year__exact": "99999999999"},
        {"at__year__gte": "0"},
        {"at__year__lt": "0"},
        {"at__iso_year": "10000"},
        {"at__iso_year__gt": "9999"},
        {"at__week": "2"},
    ],
)
def test_a_date_drill_down_out_of_range_is_a_400_not_a_500(team_admin_client, query):
    response = team_admin_client.get(reverse("admin:events_lookupaudit_changelist"), query)
    assert response.status_code == 400


@pytest.mark.parametrize(
    "url", ["admin:auth_user_changelist", "admin:events_lookupaudit_changelist"]
)
def test_an_admin_search_of_a_thousand_words_searches_the_first_few(
    team_admin_client, audit_rows, url
):
    """SQLite refused the query ("Expression tree is too large"): a 503 that blamed the
    database."""
    response = team_admin_client.get(reverse(url), {"q": "tess " * 1000, "_facets": "True"})
    assert response.status_code == 200
    assert "Searched for the first 8 words" in response.content.decode()
    # Said on the list, once, not again on the next page (the facet counts search again).
    assert "Searched for the first" not in team_admin_client.get("/admin/").content.decode()


def test_a_date_lookup_on_other_admin_lists_is_a_400_too(team_admin_client):
    users = reverse("admin:auth_user_changelist")
    assert team_admin_client.get(users, {"date_joined__year__gte": "0"}).status_code == 400
    attempts = "/admin/axes/accessattempt/?attempt_time%5F%5Fyear%5F%5Fexact=99999999999"
    assert team_admin_client.get(attempts).status_code == 400


def test_a_date_drill_down_in_range_still_works(team_admin_client, audit_rows):
    url = reverse("admin:events_lookupaudit_changelist")
    query = {"at__year": "2026", "at__month": "11", "at__day": "28"}
    assert team_admin_client.get(url, query).status_code == 200


def test_the_desk_s_own_audit_page_still_says_what_was_wrong_with_a_nul(team_admin_client):
    response = team_admin_client.get(reverse("events:audit"), {"outcome": "\x00"})
    assert response.status_code == 400
    assert "outcome" in response.content.decode().lower()


def test_the_audit_trail_is_never_kept_by_a_browser_or_proxy(team_admin_client, audit_rows):
    for name in ("events:audit", "events:audit_export"):
        response = team_admin_client.get(reverse(name))
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]
        assert "private" in response["Cache-Control"]


@pytest.fixture(autouse=True)
def _free_export_slots(monkeypatch):
    """A test that reads an export's headers only leaves its response unclosed (a server
    always closes it): each test starts with every slot free."""
    slots = threading.BoundedSemaphore(team_views._EXPORTS_AT_ONCE)
    monkeypatch.setattr(team_views, "_export_slots", slots)


def test_the_audit_exports_as_csv_with_formulas_defused(team_admin_client, audit_rows):
    response = team_admin_client.get(reverse("events:audit_export"), {"user": "tess"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content)
    # Spreadsheets read a file without a byte order mark in the machine's own code page.
    assert body.startswith("\ufeff".encode())
    text = body.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["at", "username", "event_id"]
    assert {row[2] for row in rows[1:]} == {"evt-aaa", "'=HYPERLINK(1)"}


@pytest.mark.parametrize(
    "url",
    [
        "/audit/",
        "/audit/export.csv",
        "/admin/",
        "/admin/auth/user/",
        "/admin/events/lookupaudit/",
        "/admin/axes/accessattempt/",
    ],
)
def test_support_users_are_refused_every_admin_and_audit_url(staff_client, url):
    response = staff_client.get(url)
    assert response.status_code in (302, 403)
    if response.status_code == 302:
        assert response["Location"].startswith("/admin/login/")


# --- recent lookups -----------------------------------------------------------------------


def test_the_home_page_shows_my_and_the_teams_recent_lookups(staff_client, staff_user):
    for number in range(12):
        LookupAudit.objects.create(
            user=staff_user,
            username="sam",
            event_id=f"evt-{number}",
            kind="page",
            outcome="found",
            event_type="Sms",
            status="Completed",
        )
    LookupAudit.objects.create(
        username="tess", event_id="evt-team", kind="page", outcome="found", status="Failed"
    )
    LookupAudit.objects.create(
        user=staff_user, username="sam", event_id="evt-missing", kind="page", outcome="not_found"
    )
    response = staff_client.get(reverse("events:lookup"))
    mine = [row.event_id for row in response.context["my_recent"]]
    team = [row.event_id for row in response.context["team_recent"]]
    assert mine == [f"evt-{n}" for n in range(11, 1, -1)]
    assert team[0] == "evt-team"
    assert len(team) == 10
    html = response.content.decode()
    assert "Your recent lookups" in html
    assert reverse("events:detail", args=["evt-team"]) in html


# --- team administration ------------------------------------------------------------------


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", password="not-used")


def test_a_team_admin_creates_staff_with_a_role(team_admin_client):
    response = team_admin_client.post(
        "/admin/auth/user/add/",
        {
            "username": "newbie",
            "password1": "a-long-Passphrase-42",
            "password2": "a-long-Passphrase-42",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(username="newbie")
    support = role("Support")
    response = team_admin_client.post(
        f"/admin/auth/user/{user.pk}/change/",
        {
            "username": "newbie",
            "is_active": "on",
            "groups": [support.pk],
            "is_superuser": "on",
            "is_staff": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content
    user.refresh_from_db()
    assert list(user.groups.values_list("name", flat=True)) == ["Support"]
    assert not user.is_superuser
    assert not user.is_staff


def test_no_user_can_be_renamed_or_created_as_another_in_another_case_or_width(
    team_admin_client, superuser, staff_user
):
    """The audit trail names users by username: "Root" beside "root" read as root."""
    for name in ("Root", "\uff52\uff4f\uff4f\uff54"):
        response = team_admin_client.post(
            f"/admin/auth/user/{staff_user.pk}/change/",
            {
                "username": name,
                "is_active": "on",
                "groups": [role("Support").pk],
                "date_joined_0": "2026-01-01",
                "date_joined_1": "00:00:00",
            },
        )
        assert response.status_code == 200
        assert "would read as it in the audit trail" in response.content.decode()
    response = team_admin_client.post(
        "/admin/auth/user/add/",
        {
            "username": "SAM",
            "password1": "a-long-Passphrase-42",
            "password2": "a-long-Passphrase-42",
            "usable_password": "true",
        },
    )
    assert response.status_code == 200
    staff_user.refresh_from_db()
    assert staff_user.username == "sam"
    assert not User.objects.filter(username="SAM").exists()


def _add_user(client, username: str):
    return client.post(
        "/admin/auth/user/add/",
        {
            "username": username,
            "password1": "a-long-Passphrase-42",
            "password2": "a-long-Passphrase-42",
            "usable_password": "true",
        },
    )


@pytest.mark.parametrize(
    ("username", "refusal"),
    [
        # "root" with two Cyrillic o's: Latin and Cyrillic letters mixed.
        ("r\u043e\u043et", "mixes letters of the Cyrillic and Latin alphabets"),
        # "pop" all in Cyrillic letters, and "POP" in Greek capitals, read as "pop".
        ("\u0440\u043e\u0440", "pop&#x27; is taken, and this username would read as it"),
        ("\u03a1\u039f\u03a1", "pop&#x27; is taken, and this username would read as it"),
        # Capitals whose small letters look like nothing Latin: "TOM" in Cyrillic and Greek.
        ("\u0422\u041e\u041c", "tom&#x27; is taken, and this username would read as it"),
        ("\u03a4\u039f\u039c", "tom&#x27; is taken, and this username would read as it"),
        # Latin look-alikes: a dotless i, a Latin alpha.
        ("t\u0131m", "tim&#x27; is taken, and this username would read as it"),
        ("\u0251nn", "ann&#x27; is taken, and this username would read as it"),
        # A Lisu letter beside Latin ones.
        ("\ua4d3emo", "mixes letters of the Latin and Lisu alphabets"),
    ],
)
def test_no_user_is_created_under_a_name_that_passes_for_anothers(
    team_admin_client, superuser, django_user_model, username, refusal
):
    for existing in ("pop", "tom", "tim", "ann"):
        django_user_model.objects.create_user(existing, password="not-used")
    response = _add_user(team_admin_client, username)
    assert response.status_code == 200
    assert refusal in response.content.decode()
    assert not django_user_model.objects.filter(username=username).exists()


def test_names_in_one_other_alphabet_are_welcome(team_admin_client, django_user_model):
    for username in ("\u043e\u043b\u0435\u0433", "\u03bd\u03af\u03ba\u03b7", "J\u00fcrgen"):
        assert _add_user(team_admin_client, username).status_code == 302, username
        assert django_user_model.objects.filter(username=username).exists()


@pytest.mark.parametrize("new_name", ["sam", "Sam"])
def test_a_name_the_audit_trail_holds_for_another_account_is_not_given_again(
    team_admin_client, staff_user, new_name
):
    """Renamed "sam-old", sam's rows still said "sam", and a new "sam" (or "Sam", which
    reads as it) appeared as their author."""
    LookupAudit.objects.create(
        user=staff_user, username="sam", event_id="evt-1", kind="page", outcome="found"
    )
    staff_user.username = "sam-old"
    staff_user.save()
    response = _add_user(team_admin_client, new_name)
    assert response.status_code == 200
    assert "The audit trail names another account" in response.content.decode()
    # Its own name it takes back.
    assert _save_support_user(team_admin_client, staff_user, "sam").status_code == 302
    staff_user.refresh_from_db()
    assert staff_user.username == "sam"


def test_an_account_made_before_the_check_can_still_be_edited(
    team_admin_client, staff_user, django_user_model
):
    twin = django_user_model.objects.create_user("SAM", password="not-used")
    twin.groups.add(role("Support"))
    response = _save_support_user(team_admin_client, twin, "SAM", active=False)
    assert response.status_code == 302
    twin.refresh_from_db()
    assert not twin.is_active


def _save_support_user(client, user, username: str, *, active: bool = True):
    """The admin's change form for a Support user, saved with `username`."""
    form = {
        "username": username,
        "groups": [role("Support").pk],
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    if active:
        form["is_active"] = "on"
    return client.post(f"/admin/auth/user/{user.pk}/change/", form)


@pytest.mark.parametrize("username", ["ROOT", "r\u043e\u043et", "\u0433\u043e\u043et"])
def test_createsuperuser_refuses_a_username_that_passes_for_another(
    superuser, monkeypatch, username
):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-Passphrase-42")
    with pytest.raises(CommandError, match=r"'root' is taken|mixes letters"):
        call_command("createsuperuser", "--noinput", username=username, email="r@example.com")
    assert not User.objects.filter(username=username).exists()


def test_a_team_admin_cannot_see_or_edit_superusers(team_admin_client, superuser):
    changelist = team_admin_client.get("/admin/auth/user/")
    assert b"root" not in changelist.content
    assert team_admin_client.get(f"/admin/auth/user/{superuser.pk}/change/").status_code == 302
    response = team_admin_client.get(f"/admin/auth/user/{superuser.pk}/password/")
    assert response.status_code in (302, 404)


def test_a_team_admin_cannot_grant_themselves_superuser(team_admin_client, team_admin):
    team_admin_client.post(
        f"/admin/auth/user/{team_admin.pk}/change/",
        {
            "username": "tess",
            "is_active": "on",
            "is_superuser": "on",
            "groups": [role("Team admin").pk],
        },
    )
    team_admin.refresh_from_db()
    assert not team_admin.is_superuser


def test_a_team_admin_cannot_deactivate_themselves_or_drop_their_own_role(
    team_admin_client, team_admin
):
    change = f"/admin/auth/user/{team_admin.pk}/change/"
    deactivated = team_admin_client.post(
        change, {"username": "tess", "groups": [role("Team admin").pk]}
    )
    assert deactivated.status_code == 200
    assert "cannot deactivate the account you are logged in with" in deactivated.text
    demoted = team_admin_client.post(
        change, {"username": "tess", "is_active": "on", "groups": [role("Support").pk]}
    )
    assert demoted.status_code == 200
    assert "cannot remove your own Team admin role" in demoted.text
    team_admin.refresh_from_db()
    assert team_admin.is_active and team_admin.groups.filter(name="Team admin").exists()
    assert team_admin_client.get("/").status_code == 200
    # Their own name and details they change as before.
    renamed = team_admin_client.post(
        change, {"username": "tessa", "is_active": "on", "groups": [role("Team admin").pk]}
    )
    assert renamed.status_code == 302
    team_admin.refresh_from_db()
    assert team_admin.username == "tessa"


def test_a_superuser_cannot_take_their_own_superuser_or_staff_status_away(admin_client, admin_user):
    response = admin_client.post(
        f"/admin/auth/user/{admin_user.pk}/change/",
        {
            "username": admin_user.username,
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 200
    assert "take your own superuser status away" in response.text
    assert "take your own staff status away" in response.text
    admin_user.refresh_from_db()
    assert admin_user.is_superuser and admin_user.is_staff


def test_a_team_admin_deactivates_and_demotes_another_team_admin(
    team_admin_client, django_user_model
):
    other = django_user_model.objects.create_user("tom", password="x", is_staff=True)
    other.groups.add(role("Team admin"))
    response = team_admin_client.post(
        f"/admin/auth/user/{other.pk}/change/",
        {"username": "tom", "groups": [role("Support").pk]},
    )
    assert response.status_code == 302
    other.refresh_from_db()
    assert not other.is_active and not other.is_staff


def test_nobody_deletes_the_account_they_are_logged_in_with(
    admin_client, admin_user, staff_user, django_user_model
):
    # Team admins delete no accounts (they deactivate them); a superuser, not their own.
    assert admin_client.get(f"/admin/auth/user/{admin_user.pk}/delete/").status_code == 403
    both = [admin_user.pk, staff_user.pk]
    admin_client.post(
        "/admin/auth/user/", {"action": "delete_selected", "_selected_action": both, "post": "yes"}
    )
    # The bulk delete is refused as a whole; without their own account, it goes through.
    assert django_user_model.objects.filter(pk__in=both).count() == 2
    admin_client.post(
        "/admin/auth/user/",
        {"action": "delete_selected", "_selected_action": [staff_user.pk], "post": "yes"},
    )
    assert list(django_user_model.objects.filter(pk__in=both)) == [admin_user]


def test_a_team_admin_resets_a_staff_password(team_admin_client, staff_user):
    response = team_admin_client.post(
        f"/admin/auth/user/{staff_user.pk}/password/",
        {"password1": "Another-long-pass-77", "password2": "Another-long-pass-77"},
    )
    assert response.status_code == 302
    staff_user.refresh_from_db()
    assert staff_user.check_password("Another-long-pass-77")


def test_the_team_admin_role_gives_the_admin_site(team_admin_client, staff_user):
    team_admin = role("Team admin")
    team_admin_client.post(
        f"/admin/auth/user/{staff_user.pk}/change/",
        {"username": "sam", "is_active": "on", "groups": [team_admin.pk]},
    )
    staff_user.refresh_from_db()
    assert staff_user.is_staff


# --- preferences --------------------------------------------------------------------------


def test_preferences_set_the_time_zone_of_every_time_shown(staff_client, lookup_event, staff_user):
    response = staff_client.post(
        reverse("events:preferences"), {"time_zone": "Asia/Tokyo", "poll_seconds": "9"}
    )
    assert response.status_code == 302
    assert Preferences.objects.get(user=staff_user).time_zone == "Asia/Tokyo"
    lookup_event.return_value = snapshot(status="InProgress")
    html = staff_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()
    assert "Thu 26 Nov 2026, 23:02:19 JST" in html
    assert 'hx-trigger="every 9s"' in html


def test_preferences_answer_head_as_get(staff_client):
    response = staff_client.head(reverse("events:preferences"))
    assert response.status_code == 200


def test_preferences_come_back_at_the_next_login(client, staff_user):
    Preferences.objects.create(user=staff_user, time_zone="Europe/Paris", poll_seconds=4)
    client.force_login(staff_user)
    assert client.session["desk_time_zone"] == "Europe/Paris"
    assert client.session["desk_poll_seconds"] == 4


@pytest.mark.parametrize(
    "data",
    [
        {"poll_seconds": "1"},
        {"poll_seconds": "301"},
        {"time_zone": "Mars/Base"},
        {"time_zone": "Factory"},
        {"time_zone": "localtime"},
    ],
)
def test_preferences_out_of_bounds_are_refused_with_a_message(staff_client, data):
    response = staff_client.post(reverse("events:preferences"), data)
    assert response.status_code == 400
    assert b'role="alert"' in response.content


def test_the_preferences_form_offers_places_and_says_what_empty_means(staff_client):
    html = staff_client.get(reverse("events:preferences")).content.decode()
    assert '<option value="" selected>The desk&#x27;s time zone (UTC)</option>' in html
    assert 'value="Europe/Paris"' in html
    assert 'value="UTC"' in html
    for internal in ("Factory", "localtime", "posixrules", "Etc/GMT+5"):
        assert f'value="{internal}"' not in html
    assert 'min="2"' in html
    assert 'max="300"' in html


def test_masked_raw_json_keeps_bidirectional_controls_escaped(masked_client, lookup_event):
    lookup_event.return_value = snapshot(statusReason="call +1 415 555 0177 \u202etxt.exe")
    download = masked_client.get(reverse("events:raw", args=[SMS_ID])).content.decode()
    assert "\u202e" not in download
    assert "\\u202etxt.exe" in download
    assert "•••0177" in download


# --- what a Team admin may not reach ------------------------------------------------------


@pytest.fixture
def ops_user(django_user_model):
    """A user a superuser gave more than the two roles: a group of their own and a right."""
    user = django_user_model.objects.create_user("olga", password="Old-long-pass-1")
    ops = Group.objects.create(name="Ops")
    ops.permissions.add(Permission.objects.get(codename="change_group"))
    user.groups.add(ops)
    return user


@pytest.fixture
def raw_rights_user(django_user_model):
    user = django_user_model.objects.create_user("rafa", password="Old-long-pass-1")
    user.user_permissions.add(Permission.objects.get(codename="delete_user"))
    return user


@pytest.mark.parametrize("holder", ["ops_user", "raw_rights_user"])
def test_a_team_admin_cannot_reset_or_edit_an_account_with_more_than_the_roles(
    team_admin_client, holder, request
):
    user = request.getfixturevalue(holder)
    changelist = team_admin_client.get("/admin/auth/user/")
    assert user.username.encode() not in changelist.content
    response = team_admin_client.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"password1": "Taken-over-pass-99", "password2": "Taken-over-pass-99"},
    )
    assert response.status_code in (302, 404)
    user.refresh_from_db()
    assert user.check_password("Old-long-pass-1")
    assert team_admin_client.get(f"/admin/auth/user/{user.pk}/change/").status_code == 302


def test_a_team_admin_still_manages_staff_holding_only_the_roles(team_admin_client, staff_user):
    changelist = team_admin_client.get("/admin/auth/user/")
    assert b"sam" in changelist.content


def test_a_team_admin_cannot_see_or_clear_a_superusers_lockout(
    team_admin_client, superuser, staff_user, django_user_model
):
    django_user_model.objects.create_superuser("Ölaf", "o@example.com", "a-long-password-1")
    for username in ("ROOT", "ÖLAF", "\uff52\uff4f\uff4f\uff54", "sam"):
        AccessAttempt.objects.create(
            username=username,
            ip_address="10.0.0.1",
            user_agent="x",
            get_data="",
            post_data="",
            http_accept="",
            path_info="/accounts/login/",
            failures_since_start=9,
        )
    listing = team_admin_client.get("/admin/axes/accessattempt/").content.decode()
    assert "sam" in listing
    assert "ROOT" not in listing
    assert "ÖLAF" not in listing
    attempts = list(AccessAttempt.objects.order_by("username").values_list("pk", flat=True))
    team_admin_client.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": attempts, "post": "yes"},
    )
    assert sorted(AccessAttempt.objects.values_list("username", flat=True)) == sorted(
        ["ROOT", "ÖLAF", "\uff52\uff4f\uff4f\uff54"]
    )


@pytest.mark.parametrize(
    "url",
    [
        "/admin/events/lookupaudit/?event_id__regex=^(a|a)*$",
        "/admin/auth/user/?username__iregex=.",
        "/admin/axes/accessattempt/?username__regex=.",
        "/admin/axes/accesslog/?username__regex=.",
    ],
)
def test_the_admin_refuses_regular_expressions_in_its_lists(admin_client, url):
    assert admin_client.get(url).status_code == 400


@pytest.mark.parametrize(
    ("query", "status"),
    [
        # Compared as an address: on PostgreSQL the inet column refused what is none when
        # the list was counted, a 500.
        ("client_ip=abc", 400),
        ("client_ip__exact=1.2.3", 400),
        ("client_ip__gt=x", 400),
        ("client_ip__in=10.0.0.1,abc", 400),
        ("client_ip__range=10.0.0.1,x", 400),
        # A range the admin reads a character at a time: refused whatever it holds.
        ("client_ip__range=1.1.1.1,2.2.2.2", 400),
        # As the query gets it, blank and all.
        ("client_ip=10.0.0.1%20", 400),
        ("client_ip__in=10.0.0.1,%2010.0.0.2", 400),
        ("client_ip=10.0.0.1", 200),
        ("client_ip__in=10.0.0.1,::1", 200),
        # Compared as text, as the search does.
        ("client_ip__contains=abc", 200),
        ("client_ip__startswith=10.", 200),
    ],
)
def test_the_admin_takes_an_ip_filter_with_an_address_or_as_text(
    team_admin_client, admin_client, query, status
):
    LookupAudit.objects.create(
        username="sam", event_id="evt-1", kind="page", outcome="found", client_ip="10.0.0.1"
    )
    response = team_admin_client.get(f"/admin/events/lookupaudit/?{query}")
    assert response.status_code == status
    if status == 200 and "abc" not in query:
        assert "evt-1" in response.content.decode()
    # django-axes' login records, as a superuser sees them all.
    for records in ("accessattempt", "accesslog", "accessfailurelog"):
        url = f"/admin/axes/{records}/?" + query.replace("client_ip", "ip_address")
        assert admin_client.get(url).status_code == status, url


# --- masking in the audit trail -----------------------------------------------------------


@pytest.fixture
def masked_auditor_client(client, django_user_model):
    """Someone a superuser let read the audit trail, without the full-numbers permission."""
    user = django_user_model.objects.create_user("ana", password="not-used-in-tests")
    for codename in ("lookup_event", "view_lookupaudit"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)
    return client


def test_the_audit_page_and_export_mask_numbers_for_viewers_without_the_permission(
    masked_auditor_client,
):
    LookupAudit.objects.create(
        username="sam",
        event_id="+1 415 555 0124",
        kind="search",
        outcome="invalid_id",
        status="Bounced by +1 415 555 0124",
        event_type="SMS to +1 415 555 0124",
        at=timezone.now(),
    )
    page = masked_auditor_client.get(reverse("events:audit")).content.decode()
    export = masked_auditor_client.get(reverse("events:audit_export"))
    csv_text = b"".join(export.streaming_content).decode("utf-8-sig")
    for text in (page, csv_text):
        assert "555 0124" not in text
        assert "•••0124" in text


def test_the_audit_filter_does_not_tell_a_masked_viewer_the_hidden_digits(
    masked_auditor_client, team_admin
):
    for event_id in ("1-415-555-0123", "evt_4155"):
        LookupAudit.objects.create(
            username="sam", event_id=event_id, kind="page", outcome="found", at=timezone.now()
        )

    def found(client, event_id: str) -> list[str]:
        query = {"event_id": event_id}
        page = client.get(reverse("events:audit"), query).content.decode()
        export = client.get(reverse("events:audit_export"), query)
        csv_text = b"".join(export.streaming_content).decode("utf-8-sig")
        return [
            shown
            for shown in ("•••0123", "1-415-555-0123", "evt_4155")
            if shown in page and shown in csv_text
        ]

    # Digits hidden by the mask match nothing, right guess or wrong: no oracle.
    assert found(masked_auditor_client, "1-415-555") == []
    assert found(masked_auditor_client, "1-415-556") == []
    # What the viewer sees still matches, and so does an ID that holds no number.
    assert found(masked_auditor_client, "0123") == ["•••0123"]
    assert found(masked_auditor_client, "EVT_41") == ["evt_4155"]
    # With the permission, the IDs as typed.
    admin_client = Client()
    admin_client.force_login(team_admin)
    assert found(admin_client, "1-415-555") == ["1-415-555-0123"]


def test_the_api_key_as_an_audit_filter_is_not_shown_back_and_finds_redacted_rows(
    team_admin_client,
):
    LookupAudit.objects.create(
        username="sam", event_id="[redacted]", kind="search", outcome="invalid_id"
    )
    response = team_admin_client.get(reverse("events:audit"), {"event_id": TEST_API_KEY})
    html = response.content.decode()
    assert TEST_API_KEY not in html
    assert 'value="[redacted]"' in html
    assert "<td>sam</td>" in html


def test_short_texts_are_masked_once_a_process():
    text = f"Bounced by +1 415 555 0124 at {timezone.now()}"  # not masked before
    with mock.patch.object(
        phonenumbers, "PhoneNumberMatcher", wraps=phonenumbers.PhoneNumberMatcher
    ) as matcher:
        first = masking.mask_text(text, region="US")
        again = masking.mask_text(text, region="US")
    assert first == again
    assert "•••0124" in first
    assert matcher.call_count == 1


def test_the_admin_s_audit_rows_are_for_those_who_may_see_full_numbers(client, django_user_model):
    user = django_user_model.objects.create_user("ana", password="x", is_staff=True)
    for codename in ("lookup_event", "view_lookupaudit"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)
    assert client.get("/admin/events/lookupaudit/").status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_full_phone_numbers"))
    user = django_user_model.objects.get(pk=user.pk)
    client.force_login(user)
    assert client.get("/admin/events/lookupaudit/").status_code == 200


def test_a_head_request_for_the_export_writes_nothing(team_admin_client, audit_rows):
    with mock.patch.object(team_views, "audit_for") as audit_for:
        response = team_admin_client.head(reverse("events:audit_export"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    # A GET streams the file without a length: the HEAD must not claim it is empty.
    assert "Content-Length" not in response
    audit_for.assert_not_called()


def test_exports_beyond_a_few_at_once_are_refused_until_one_is_done(team_admin_client, audit_rows):
    running = [team_admin_client.get(reverse("events:audit_export")) for _ in range(2)]
    refused = team_admin_client.get(reverse("events:audit_export"))
    assert refused.status_code == 503
    assert refused["Retry-After"] == "60"
    assert b"Try again in a minute" in refused.content
    b"".join(running[0].streaming_content)  # the client closes it once it is read
    assert team_admin_client.get(reverse("events:audit_export")).status_code == 200


def test_the_audit_export_defuses_formulas_behind_blanks_and_in_full_width(
    team_admin_client,
):
    typed_values = ("\n=1+1", " =1+1", "\uff1dHYPERLINK(1)", "evt-\u202e1cba")
    for typed in (*typed_values, "\xa0=1", "\u2028@A1", "\u200b+1", "\ufeff-1"):
        LookupAudit.objects.create(
            username="sam", event_id=typed, kind="search", outcome="invalid_id", at=timezone.now()
        )
    export = team_admin_client.get(reverse("events:audit_export"))
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig"))))
    assert sorted(row[2] for row in rows[1:]) == sorted(
        [
            "'\n=1+1",
            "' =1+1",
            "'\uff1dHYPERLINK(1)",
            "evt-\ufffd1cba",
            "'\xa0=1",
            "'\u2028@A1",
            "'\u200b+1",
            "'\ufeff-1",
        ]
    )
