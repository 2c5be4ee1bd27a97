import dataclasses
from datetime import timedelta
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from events import leadping, services
from events.services import EventSnapshot
from tests.conftest import TEST_API_KEY, event_from

SMS_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
HTMX = {"HX-Request": "true"}


def snapshot(name: str = "sms_delivered.json", **changes) -> EventSnapshot:
    return EventSnapshot(detail=event_from(name, **changes), fetched_at=timezone.now())


@pytest.fixture
def lookup_event():
    with mock.patch("events.services.lookup_event") as patched:
        patched.return_value = snapshot()
        yield patched


# --- the lookup page ----------------------------------------------------------------------


def test_the_lookup_page_has_one_autofocused_field(staff_client):
    response = staff_client.get(reverse("events:lookup"))
    assert response.status_code == 200
    assert b'name="q"' in response.content
    assert b"autofocus" in response.content


def test_the_lookup_redirects_a_bare_id_to_its_permalink(staff_client):
    response = staff_client.get(reverse("events:lookup"), {"q": f"  {SMS_ID} "})
    assert response.status_code == 302
    assert response["Location"] == f"/events/{SMS_ID}/"


def test_the_lookup_says_when_it_left_invisible_characters_out(staff_client, lookup_event):
    pasted = f"{SMS_ID[:8]}\u202e{SMS_ID[8:]}"
    response = staff_client.get(reverse("events:lookup"), {"q": pasted}, follow=True)
    html = response.content.decode()
    assert response.redirect_chain[0][0] == reverse("events:detail", args=[SMS_ID])
    assert f"they were left out and {SMS_ID} was looked up" in html
    assert "\u202e" not in html


def test_a_plain_lookup_has_no_such_note(staff_client, lookup_event):
    response = staff_client.get(reverse("events:lookup"), {"q": SMS_ID}, follow=True)
    assert "invisible characters" not in response.content.decode()


def test_the_lookup_redirects_a_pasted_link_to_its_permalink(staff_client):
    response = staff_client.get(
        reverse("events:lookup"), {"q": f"https://api.leadping.ai/events/{SMS_ID}/detail"}
    )
    assert response["Location"] == f"/events/{SMS_ID}/"


def test_the_lookup_explains_input_without_an_id_and_echoes_it_safely(staff_client):
    response = staff_client.get(reverse("events:lookup"), {"q": "<script>alert(1)</script>"})
    assert response.status_code == 400
    assert b"<script>alert(1)</script>" not in response.content
    assert b"&lt;script&gt;" in response.content
    assert b'role="alert"' in response.content


# --- the permalink ------------------------------------------------------------------------


def test_the_permalink_shows_what_the_api_knows(staff_client, lookup_event):
    response = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    assert response.status_code == 200
    lookup_event.assert_called_once_with(event_id=SMS_ID)
    html = response.content.decode()
    for text in [
        "SmsSent",
        "FollowUp",
        "SMS",
        "Messaging",
        "Outreach",
        "Outbound",
        "Completed",
        "Hi Dana, just checking you got the quote?",
        "Ana Lima",
        "usr-42",
        "+1 415-555-0132",
        'href="tel:+14155550132"',
        "+44 20 7946 0958",
        "pn-01HF3K",
        "lead-9b21",
        "conv-7f3a9c",
        "40317f3a-1b2c-4d5e-8f90-a1b2c3d4e5f6",
        "Delivered",
        "Raw JSON as received",
        reverse("events:raw", args=[SMS_ID]),
    ]:
        assert text in html, text


def test_a_final_event_is_not_polled(staff_client, lookup_event):
    response = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    assert b"hx-trigger" not in response.content


def test_a_live_event_polls_its_status_fragment(staff_client, lookup_event, settings):
    settings.LEADPING_POLL_SECONDS = 7
    lookup_event.return_value = snapshot(status="InProgress")
    response = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    html = response.content.decode()
    version = lookup_event.return_value.version
    assert f'hx-get="{reverse("events:status", args=[SMS_ID])}?v={version}"' in html
    assert 'hx-trigger="every 7s"' in html


def test_the_event_page_is_not_kept_for_back_and_forward(staff_client, lookup_event):
    """Brought back from the browser's cache, a live page would show a status long gone."""
    lookup_event.return_value = snapshot(status="InProgress")
    response = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize(
    ("name", "args", "htmx"),
    [
        ("events:status", [SMS_ID], True),
        ("events:facts", [SMS_ID], True),
        ("events:lookup", [], False),
        ("events:preferences", [], False),
        ("password_change", [], False),
    ],
)
def test_no_page_or_fragment_of_a_logged_in_user_is_kept_by_a_browser(
    staff_client, lookup_event, name, args, htmx
):
    lookup_event.return_value = snapshot(status="InProgress")
    headers = {"HX-Request": "true"} if htmx else {}
    response = staff_client.get(reverse(name, args=args), headers=headers)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_a_poll_answered_204_is_not_kept_either(staff_client, lookup_event):
    lookup_event.return_value = snapshot(status="InProgress")
    version = lookup_event.return_value.version
    response = staff_client.get(
        reverse("events:status", args=[SMS_ID]), {"v": version}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 204
    assert "no-store" in response["Cache-Control"]


def test_anonymous_answers_keep_their_own_cache_headers(client):
    assert "Cache-Control" not in client.get("/healthz")


def test_fields_given_twice_are_named_on_the_page(staff_client, lookup_event):
    detail = dataclasses.replace(snapshot().detail, repeated_names=("status", "<b>x</b>"))
    lookup_event.return_value = EventSnapshot(detail=detail, fetched_at=timezone.now())
    html = staff_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()
    assert "gives these fields more than once: status, &lt;b&gt;x&lt;/b&gt;" in html
    assert "<b>x</b>" not in html


def test_a_repeated_name_that_is_a_phone_number_is_masked(masked_client, lookup_event):
    detail = dataclasses.replace(snapshot().detail, repeated_names=("+14155550132",))
    lookup_event.return_value = EventSnapshot(detail=detail, fetched_at=timezone.now())
    html = masked_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()
    assert "more than once: •••0132" in html
    assert "4155550132" not in html


def test_an_unknown_status_keeps_polling(staff_client, lookup_event):
    lookup_event.return_value = snapshot(status=None)
    response = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    assert b"hx-trigger" in response.content
    assert b"Unknown" in response.content


def test_an_unparseable_number_is_shown_as_received_and_never_linked(staff_client, lookup_event):
    lookup_event.return_value = snapshot("call_failed.json", toPhoneNumber="javascript:alert(1)")
    response = staff_client.get(reverse("events:detail", args=["call-failed-1"]))
    html = response.content.decode()
    assert "javascript:alert(1)" in html
    assert 'href="javascript' not in html
    assert "shown as received" in html


def test_failure_outcomes_are_emphasised(staff_client, lookup_event):
    lookup_event.return_value = snapshot("call_failed.json")
    response = staff_client.get(reverse("events:detail", args=["call-failed-1"]))
    html = response.content.decode()
    assert "step-failure" in html
    assert "Carrier rejected the call (busy everywhere)" in html
    assert "badge-failed" in html


def test_a_future_scheduled_time_is_shown_as_upcoming(staff_client, lookup_event):
    later = (timezone.now() + timedelta(days=2)).isoformat()
    lookup_event.return_value = snapshot(status="Pending", scheduledFor=later)
    response = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    assert b"step-upcoming" in response.content


def test_unreadable_fields_are_named_and_the_page_still_renders(staff_client, lookup_event):
    lookup_event.return_value = snapshot("wrong_types.json")
    response = staff_client.get(reverse("events:detail", args=["evt-wrong-types"]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "yesterday-ish" in html
    assert "unreadable time" in html
    assert "Throttled" in html
    assert "Fax" in html
    assert "Full payload" in html


HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


def test_every_upstream_string_is_escaped(staff_client, lookup_event):
    fields = {
        name: HOSTILE
        for name in [
            "eventType",
            "secondaryEventType",
            "description",
            "eventCategory",
            "timelineType",
            "timelineCategory",
            "conversationId",
            "summary",
            "direction",
            "status",
            "statusReason",
            "fromPhoneNumberId",
            "outboundPhoneNumberId",
            "fromPhoneNumber",
            "toPhoneNumber",
            "providerMessageId",
            "userId",
            "leadId",
            "createdAt",
            "sentAt",
            "fullPayload",
        ]
    }
    lookup_event.return_value = snapshot(user={"id": HOSTILE, "name": HOSTILE}, **fields)
    response = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    html = response.content.decode()
    assert "<script>alert(2)" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(2)" in html


def test_the_permalink_of_an_invalid_id_never_calls_upstream(staff_client, lookup_event):
    response = staff_client.get("/events/..%2F..%2Fadmin/")
    assert lookup_event.call_count == 0
    assert response.status_code in (400, 404)


@pytest.mark.parametrize("bad_id", ["a@b", "a b", "x" * 300, "événement", "-x"])
def test_an_invalid_id_gets_a_clear_400_page(staff_client, lookup_event, bad_id):
    response = staff_client.get(reverse("events:detail", args=[bad_id]))
    assert response.status_code == 400
    assert b"That is not an event ID" in response.content
    assert lookup_event.call_count == 0


@pytest.mark.parametrize(
    ("error", "status", "text"),
    [
        (leadping.EventNotFound(), 404, "No such event"),
        (leadping.NotAuthorised(), 502, "LEADPING_API_KEY"),
        (leadping.RateLimited(retry_after=17), 429, "Try again in 17 seconds"),
        (leadping.UpstreamUnavailable(), 503, "Try again"),
        (leadping.BadPayload(), 502, "cannot read"),
    ],
)
def test_upstream_failures_get_their_own_page_and_never_a_500(
    staff_client, lookup_event, error, status, text
):
    lookup_event.side_effect = error
    response = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    assert response.status_code == status
    assert text in response.content.decode()
    assert TEST_API_KEY not in response.content.decode()


def test_an_invalid_id_with_a_bidi_override_is_echoed_with_it_made_visible(
    staff_client, lookup_event
):
    # U+202E would make "evt-\u202e1cba" read as "evt-abc1".
    response = staff_client.get(reverse("events:detail", args=["evt-\u202e1cba"]))
    assert response.status_code == 400
    html = response.content.decode()
    assert "\u202e" not in html
    assert "evt-\ufffd1cba" in html


def test_the_not_found_page_echoes_the_id_and_offers_the_lookup(staff_client, lookup_event):
    lookup_event.side_effect = leadping.EventNotFound()
    response = staff_client.get(reverse("events:detail", args=["evt_missing_1"]))
    assert b"evt_missing_1" in response.content
    assert b'name="q"' in response.content


def test_a_rate_limited_page_carries_retry_after(staff_client, lookup_event):
    lookup_event.side_effect = leadping.RateLimited(retry_after=16.4)
    response = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    assert response["Retry-After"] == "16"


# --- the status fragment ------------------------------------------------------------------


def test_the_fragment_renders_only_the_status_panel(staff_client, lookup_event):
    lookup_event.return_value = snapshot(status="InProgress")
    response = staff_client.get(reverse("events:status", args=[SMS_ID]), headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="status-panel"')
    assert "<html" not in html
    assert "In progress" in html
    assert "hx-trigger" in html
    assert response["Vary"] == "HX-Request, Cookie" or "HX-Request" in response["Vary"]


def test_an_unchanged_live_event_answers_204_so_htmx_swaps_nothing(staff_client, lookup_event):
    lookup_event.return_value = snapshot(status="InProgress")
    version = lookup_event.return_value.version
    response = staff_client.get(
        reverse("events:status", args=[SMS_ID]), {"v": version}, headers=HTMX
    )
    assert response.status_code == 204
    assert response.content == b""
    assert response["X-Desk-Checked"]


def test_checked_is_when_leadping_last_gave_the_answer_not_when_the_poll_came(
    staff_client, lookup_event
):
    # A quiet event's copy may be up to a minute old (services._fresh_seconds).
    asked = timezone.now() - timedelta(seconds=40)
    lookup_event.return_value = EventSnapshot(
        detail=event_from("sms_delivered.json", status="InProgress"),
        fetched_at=asked,
        from_cache=True,
    )
    page = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    shown = timezone.localtime(asked).strftime("%H:%M:%S")
    assert f"checked <span data-checked>{shown}</span>" in page.content.decode()
    poll = staff_client.get(
        reverse("events:status", args=[SMS_ID]),
        {"v": lookup_event.return_value.version},
        headers=HTMX,
    )
    assert poll.status_code == 204
    assert poll["X-Desk-Checked"] == shown


def test_an_unchanged_stale_copy_answers_204_without_moving_the_checked_time(
    staff_client, lookup_event
):
    stale = EventSnapshot(
        detail=event_from("sms_delivered.json", status="InProgress"),
        fetched_at=timezone.now() - timedelta(minutes=2),
        from_cache=True,
        stale_reason="LeadPing did not answer in time.",
    )
    lookup_event.return_value = stale
    response = staff_client.get(
        reverse("events:status", args=[SMS_ID]), {"v": stale.version}, headers=HTMX
    )
    assert response.status_code == 204
    assert not response.has_header("X-Desk-Checked")


def test_a_changed_live_event_gets_the_new_panel(staff_client, lookup_event):
    lookup_event.return_value = snapshot(status="InProgress")
    response = staff_client.get(
        reverse("events:status", args=[SMS_ID]), {"v": "something-older"}, headers=HTMX
    )
    assert response.status_code == 200
    assert b"In progress" in response.content


def test_a_stale_copy_is_shown_with_its_age_and_reason(staff_client, lookup_event):
    fetched = timezone.now() - timedelta(minutes=3)
    lookup_event.return_value = EventSnapshot(
        detail=event_from("sms_delivered.json", status="InProgress"),
        fetched_at=fetched,
        from_cache=True,
        stale_reason="LeadPing is not answering right now.",
    )
    response = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "LeadPing is not answering right now." in html
    assert "3\xa0minutes ago" in html or "3 minutes ago" in html
    assert "is-stale" in html


def test_a_stale_live_event_is_polled_less_often(staff_client, lookup_event, settings):
    settings.LEADPING_POLL_SECONDS = 5
    lookup_event.return_value = EventSnapshot(
        detail=event_from("sms_delivered.json", status="Pending"),
        fetched_at=timezone.now(),
        stale_reason="LeadPing is not answering right now.",
    )
    response = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    assert b'hx-trigger="every 15s"' in response.content


@pytest.mark.parametrize(
    ("refusal", "status", "said"),
    [
        # The budget answers like a rate limit.
        (services.BudgetExhausted(retry_after=7.6), 429, b"pacing its calls"),
        # Calls paused after LeadPing failed many in a row.
        (services.UpstreamPaused(retry_after=7.6), 503, b"paused its calls to it"),
    ],
)
def test_a_page_the_desk_did_not_ask_leadping_for_says_when_to_try_again(
    staff_client, lookup_event, refusal, status, said
):
    lookup_event.side_effect = refusal
    response = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    assert response.status_code == status
    assert response["Retry-After"] == "8"
    assert said in response.content
    assert b"Try again in 8 seconds." in response.content


def test_the_upstream_status_page_shows_the_counters(staff_client):
    from events import upstream

    upstream.reset_counters()
    upstream.count("cache_hits", 3)
    response = staff_client.get(reverse("events:desk_status"))
    assert response.status_code == 200
    assert response.context["counters"]["cache_hits"] == 3
    assert b"Coalesced waits" in response.content


def test_the_upstream_status_page_says_what_refreshes_leave_for_first_lookups(
    staff_client, settings
):
    settings.LEADPING_BUDGET_BURST, settings.LEADPING_BUDGET_RESERVE = 20, 5
    response = staff_client.get(reverse("events:desk_status"))
    assert b"bursts of 20; refreshes leave 5 for first lookups" in response.content


def test_the_fragment_answers_286_once_the_event_is_final(staff_client, lookup_event):
    response = staff_client.get(reverse("events:status", args=[SMS_ID]), headers=HTMX)
    assert response.status_code == 286
    assert b"Completed" in response.content
    assert b"hx-trigger" not in response.content


def test_the_fragment_redirects_a_plain_browser_request_to_the_permalink(
    staff_client, lookup_event
):
    response = staff_client.get(reverse("events:status", args=[SMS_ID]))
    assert response.status_code == 302
    assert response["Location"] == reverse("events:detail", args=[SMS_ID])


def test_the_fragment_reports_an_upstream_failure_as_short_text(staff_client, lookup_event):
    lookup_event.side_effect = leadping.UpstreamUnavailable("LeadPing did not answer in time.")
    response = staff_client.get(reverse("events:status", args=[SMS_ID]), headers=HTMX)
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"LeadPing did not answer in time."


def test_the_fragment_of_an_expired_session_redirects_the_tab_to_login(client, lookup_event):
    permalink = reverse("events:detail", args=[SMS_ID])
    response = client.get(
        reverse("events:status", args=[SMS_ID]),
        headers={**HTMX, "HX-Current-URL": f"http://testserver{permalink}"},
    )
    assert response.status_code == 403
    assert response["HX-Redirect"] == f"/accounts/login/?next={permalink.replace('/', '%2F')}"
    assert b"<form" not in response.content
    assert lookup_event.call_count == 0


def test_the_fragment_ignores_an_off_site_current_url(client):
    response = client.get(
        reverse("events:status", args=[SMS_ID]),
        headers={**HTMX, "HX-Current-URL": "https://evil.example/phish"},
    )
    assert "evil" not in response["HX-Redirect"]


# --- raw JSON -----------------------------------------------------------------------------


def test_the_raw_json_downloads_as_received(staff_client, lookup_event):
    response = staff_client.get(reverse("events:raw", args=[SMS_ID]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert f'filename="leadping-event-{SMS_ID}.json"' in response["Content-Disposition"]
    assert response.content.decode() == lookup_event.return_value.detail.raw_json


def test_the_raw_json_of_a_missing_event_is_a_404_page(staff_client, lookup_event):
    lookup_event.side_effect = leadping.EventNotFound()
    assert staff_client.get(reverse("events:raw", args=[SMS_ID])).status_code == 404


# --- health -------------------------------------------------------------------------------


def test_healthz_answers_without_login_or_upstream(client, lookup_event):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert lookup_event.call_count == 0


def test_views_refuse_unsafe_methods(staff_client, lookup_event):
    assert staff_client.post(reverse("events:detail", args=[SMS_ID])).status_code == 405


def test_the_fragment_may_load_nothing_on_its_own(staff_client, lookup_event):
    lookup_event.return_value = snapshot(status="InProgress")
    response = staff_client.get(reverse("events:status", args=[SMS_ID]), headers=HTMX)
    assert response["Content-Security-Policy"] == "default-src 'none'"


def test_pages_go_out_gzipped_when_the_browser_accepts_it(staff_client, lookup_event):
    response = staff_client.get(
        reverse("events:detail", args=[SMS_ID]), headers={"Accept-Encoding": "gzip"}
    )
    assert response["Content-Encoding"] == "gzip"


def test_control_characters_from_leadping_show_as_replacement_characters(
    staff_client, lookup_event
):
    # Invisible on the page, but a copy button would put "\x1b[2J" (clear the screen) on the
    # clipboard, to be pasted into a terminal.
    lookup_event.return_value = snapshot(
        leadId="\x1b[2J\x1b[31mlead\x07", summary="one\x00two\x9bthree\ttab\nline"
    )
    html = staff_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()
    assert "<code>\ufffd[2J\ufffd[31mlead\ufffd</code>" in html
    # Nor is the shown text LeadPing's ID any more: no copy button for it.
    assert 'data-copy-label="lead ID"' not in html
    assert "one\ufffdtwo\ufffdthree\ttab\nline" in html
    for control in ("\x1b", "\x07", "\x00", "\x9b"):
        assert control not in html
    # The raw JSON keeps them, escaped as JSON escapes them.
    assert "\\u001b[2J" in html
    assert "\\u009bthree" in html


def test_an_id_with_characters_the_page_could_not_show_has_no_copy_button(
    staff_client, lookup_event
):
    zalgo = "SM" + "\u0301" * 20 + "abc"
    lookup_event.return_value = snapshot(id="evt\u202e1", providerMessageId=zalgo)
    html = staff_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()
    assert 'data-copy-label="event ID"' not in html
    assert 'data-copy-label="provider message ID"' not in html
    assert 'data-copy-label="conversation ID"' in html


def test_an_id_cut_short_on_the_page_has_no_copy_button(staff_client, lookup_event):
    # The button would copy "AAAA… [cut at 1,000 of 10,000 characters; …]", not the ID.
    lookup_event.return_value = snapshot(id="A" * 10_000, leadId="L" * 10_000)
    html = staff_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()
    assert "the raw JSON has the whole text]" in html
    assert 'data-copy-label="event ID"' not in html
    assert 'data-copy-label="lead ID"' not in html
    assert 'data-copy-label="conversation ID"' in html  # not cut: copied as ever


def test_a_huge_answer_is_offered_as_a_download_not_laid_out_in_the_page(
    staff_client, lookup_event
):
    lookup_event.return_value = snapshot(description="A" * 1_048_576, fullPayload="C" * 200_000)
    page = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    html = page.content.decode()
    assert page.status_code == 200
    assert len(html) < 100_000
    assert "too long to show here: download it" in html
    assert "[cut at 10,000 of 1,048,576 characters" in html
    download = staff_client.get(reverse("events:raw", args=[SMS_ID]))
    assert b"A" * 1_048_576 in download.content


def test_a_status_the_lifecycle_contradicts_is_flagged_on_the_page_and_in_the_poll(
    staff_client, lookup_event
):
    lookup_event.return_value = snapshot(status="Completed", failedAt="2026-11-26T14:03:00Z")
    page = staff_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()
    assert "status says Completed, but the lifecycle also has failed" in page
    poll = staff_client.get(reverse("events:status", args=[SMS_ID]), headers=HTMX)
    assert "status says Completed, but the lifecycle also has failed" in poll.content.decode()
    lookup_event.return_value = snapshot(status="Pending", deliveredAt=None)
    page = staff_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()
    assert "lifecycle also has" not in page


def test_a_busy_desk_says_so_on_the_page_and_to_the_poll(staff_client, lookup_event):
    from events.services import DeskBusy

    lookup_event.side_effect = DeskBusy()
    page = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    assert page.status_code == 503
    assert b"The desk is busy" in page.content
    assert b"Try again" in page.content
    poll = staff_client.get(reverse("events:status", args=[SMS_ID]), headers=HTMX)
    assert poll.status_code == 503
    assert poll.content.decode() == DeskBusy.message
    # When to come back, as every other refusal says it.
    assert page["Retry-After"] == poll["Retry-After"] == "3"


# --- check again ------------------------------------------------------------------------


def test_a_final_events_panel_links_to_check_again_and_a_live_ones_does_not(
    staff_client, lookup_event
):
    link = '<a href="?check=again">Check again</a>'
    lookup_event.return_value = snapshot(status="Completed")
    assert link in staff_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()
    lookup_event.return_value = snapshot(status="Pending", deliveredAt=None)
    assert link not in staff_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()


def test_check_again_asks_anew_then_shows_the_permalink_without_the_query(
    staff_client, lookup_event
):
    with mock.patch("events.services.check_again", return_value=0.0) as check_again:
        response = staff_client.get(reverse("events:detail", args=[SMS_ID]), {"check": "again"})
    check_again.assert_called_once_with(event_id=SMS_ID)
    assert response.status_code == 302
    assert response["Location"] == f"/events/{SMS_ID}/"  # a reload does not ask again
    lookup_event.assert_not_called()


def test_check_again_too_soon_says_when_it_can(staff_client, lookup_event):
    with mock.patch("events.services.check_again", return_value=12.3):
        response = staff_client.get(
            reverse("events:detail", args=[SMS_ID]), {"check": "again"}, follow=True
        )
    html = response.content.decode()
    assert "less than 30 seconds ago; you can check again in 13 s." in html


@pytest.mark.parametrize("path", ["/events/not%20an%20id/", f"/events/{TEST_API_KEY}/"])
def test_check_again_of_an_invalid_id_is_the_permalinks_400_at_once(
    staff_client, lookup_event, path
):
    # Not a redirect to the same path first: its Location would echo the API key.
    response = staff_client.get(path, {"check": "again"})
    assert response.status_code == 400
    assert TEST_API_KEY not in response.content.decode()
    assert "Location" not in response


# --- the details, refreshed when a poll brings a new answer -------------------------------


def test_the_details_fragment_follows_the_latest_answer(staff_client, lookup_event):
    lookup_event.return_value = snapshot(status="Completed", providerMessageId="SM-final-42")
    response = staff_client.get(reverse("events:facts", args=[SMS_ID]), headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.startswith('<div id="event-facts"')
    assert "SM-final-42" in html
    # Rendered alone, the partial still names the kind of event (not an empty label).
    assert '<span title="timelineType: Sms">' in html
    assert "</svg> SMS</span>" in html
    assert "&quot;status&quot;: &quot;Completed&quot;" in html
    assert "<html" not in html
    assert response["Content-Security-Policy"] == "default-src 'none'"


def test_the_details_fragment_brings_the_pages_head_out_of_band(staff_client, lookup_event):
    # A poll's new answer may change what the event is, or the ID LeadPing answered for.
    lookup_event.return_value = snapshot(
        eventType="CallPlaced", timelineType="Call", direction="Inbound", id="someone-else-99"
    )
    html = staff_client.get(reverse("events:facts", args=[SMS_ID]), headers=HTMX).content.decode()
    head = html[html.index('<header id="event-head"') :]
    assert 'hx-swap-oob="true"' in head.split(">", 1)[0]
    assert '<h1 id="event-heading" data-title="Call someone-else-99">CallPlaced' in head
    assert "LeadPing answered for <code>someone-else-99</code> when asked for" in head
    # The page itself has the head once, in place, not out of band.
    page = staff_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()
    assert page.count('<header id="event-head"') == 1
    assert "hx-swap-oob" not in page
    assert "<title>Call someone-else-99 · LeadPing Event Desk</title>" in page


def test_a_long_unknown_type_and_direction_are_cut_in_the_head_and_whole_in_the_facts(
    staff_client, lookup_event
):
    kind, direction = "Carrier pigeon " * 40, "Sideways " * 40
    lookup_event.return_value = snapshot(timelineType=kind, direction=direction)
    page = staff_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()
    start = page.index('<header id="event-head"')
    head = page[start : page.index("</header>", start)]
    assert f"<span>{kind[:59]}…</span>" in head
    assert f"<span>{direction[:59]}…</span>" in head
    assert f"<title>{kind[:59]}… " in page
    facts = page[page.index('<div id="event-facts"') :]
    assert f"</svg> {kind}</span>" in facts
    assert f"<dt>Direction</dt><dd>{direction}</dd>" in facts


def test_the_summary_and_description_take_their_direction_from_their_text(
    staff_client, lookup_event
):
    """Arabic with a number in it read "555-0199 (415) 1+" in a left-to-right paragraph."""
    lookup_event.return_value = snapshot(summary="اتصل على +1 (415) 555-0199", description="x")
    page = staff_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()
    assert '<p class="summary" dir="auto">اتصل على +1 (415) 555-0199</p>' in page
    assert '<p class="description" dir="auto">x</p>' in page


def test_a_final_answer_for_another_event_keeps_the_page_polling(staff_client, lookup_event):
    lookup_event.return_value = EventSnapshot(
        detail=dataclasses.replace(
            event_from("sms_delivered.json", id="someone-else"), answers_asked_id=False
        ),
        fetched_at=timezone.now(),
    )
    page = staff_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()
    assert "LeadPing answered for" in page
    assert 'hx-trigger="every' in page
    poll = staff_client.get(reverse("events:status", args=[SMS_ID]), headers=HTMX)
    assert poll.status_code == 200


def test_the_details_fragment_is_for_htmx_only(staff_client, lookup_event):
    response = staff_client.get(reverse("events:facts", args=[SMS_ID]))
    assert response.status_code == 302
    assert response["Location"] == reverse("events:detail", args=[SMS_ID])
    response = staff_client.get("/events/not%20an%20id/details/", headers=HTMX)
    assert response.status_code == 400


def test_the_details_fragment_says_what_failed_as_text(staff_client, lookup_event):
    lookup_event.side_effect = leadping.UpstreamUnavailable("LeadPing did not answer in time.")
    response = staff_client.get(reverse("events:facts", args=[SMS_ID]), headers=HTMX)
    assert response.status_code == 503
    assert response.content == b"LeadPing did not answer in time."


def test_the_page_and_its_details_fragment_carry_the_answers_version(staff_client, lookup_event):
    page = staff_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()
    version = lookup_event.return_value.version
    assert f'id="event-facts" data-version="{version}"' in page
    assert f'data-refresh-url="/events/{SMS_ID}/details/"' in page


def test_a_capitalised_guid_not_found_offers_its_lower_case_form(staff_client, lookup_event):
    lookup_event.side_effect = leadping.EventNotFound()
    upper = SMS_ID.upper()
    response = staff_client.get(reverse("events:detail", args=[upper]))
    assert response.status_code == 404
    assert f'<a href="/events/{SMS_ID}/"><code>{SMS_ID}</code></a>' in response.content.decode()
    response = staff_client.get(reverse("events:detail", args=[SMS_ID]))
    assert b"usually written in lower case" not in response.content
