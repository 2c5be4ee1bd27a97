"""An event's HTML is rendered once per LeadPing answer and reused ({% cache %} fragments),
without ever showing one viewer what was rendered for another's role or time zone."""

import gzip
from unittest import mock

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from events import presentation
from events.context_processors import render_version
from events.models import Preferences
from events.services import EventSnapshot
from leadping_web.redis_cache import RedisCache
from tests.conftest import event_from

SMS_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
PAGE = reverse("events:detail", args=[SMS_ID])


def snapshot(**changes) -> EventSnapshot:
    return EventSnapshot(
        detail=event_from("sms_delivered.json", **changes), fetched_at=timezone.now()
    )


@pytest.fixture
def lookup_event():
    with mock.patch("events.services.lookup_event") as patched:
        patched.return_value = snapshot()
        yield patched


@pytest.fixture
def counted_timeline():
    with mock.patch("events.views.build_timeline", wraps=presentation.build_timeline) as patched:
        yield patched


def test_the_same_answer_is_rendered_once(staff_client, lookup_event, counted_timeline):
    first = staff_client.get(PAGE).content.decode()
    second = staff_client.get(PAGE).content.decode()
    assert counted_timeline.call_count == 1
    for part in ("Delivered", "step-outcome", "+1 415-555-0132", "lead_"):
        assert (part in first) == (part in second)
    assert "Delivered" in second


def test_a_new_answer_is_rendered_anew(staff_client, lookup_event, counted_timeline):
    staff_client.get(PAGE)
    lookup_event.return_value = snapshot(status="Failed", statusReason="Carrier said no")
    html = staff_client.get(PAGE).content.decode()
    assert counted_timeline.call_count == 2
    assert "Carrier said no" in html
    assert "badge-failed" in html


def test_a_masked_viewer_never_gets_the_html_rendered_for_full_numbers(
    staff_user, masked_client, lookup_event
):
    full = Client()
    full.force_login(staff_user)  # Support: full numbers
    assert "+1 415-555-0132" in full.get(PAGE).content.decode()
    masked = masked_client.get(PAGE).content.decode()
    assert "•••0132" in masked
    assert "4155550132" not in masked and "415-555-0132" not in masked
    # …and the other way round, with the masked page rendered first.
    lookup_event.return_value = snapshot(summary="Call me on 415 555 0101")
    assert "555 0101" not in masked_client.get(PAGE).content.decode()
    assert "555 0101" in full.get(PAGE).content.decode()


def test_each_viewer_sees_times_in_their_own_zone(staff_client, staff_user, lookup_event, client):
    utc_html = staff_client.get(PAGE).content.decode()
    assert "Thu 26 Nov 2026, 14:02:19 UTC" in utc_html
    Preferences.objects.create(user=staff_user, time_zone="Asia/Tokyo", poll_seconds=5)
    tokyo = Client()
    tokyo.force_login(staff_user)  # preferences are read into the session at login
    tokyo_html = tokyo.get(PAGE).content.decode()
    assert "Thu 26 Nov 2026, 23:02:19 JST" in tokyo_html
    assert "14:02:19 UTC</time>" not in tokyo_html
    # Outside UTC, hovering a time shows it in UTC; in UTC that would only repeat it.
    assert 'title="Thu 26 Nov 2026, 14:02:19 UTC"' in tokyo_html
    assert 'title="Thu 26 Nov 2026, 14:02:19 UTC"' not in utc_html


def test_relative_times_are_left_to_the_browser(staff_client, lookup_event):
    html = staff_client.get(PAGE).content.decode()
    assert (
        '<time datetime="2026-11-26T14:02:19Z">Thu 26 Nov 2026, 14:02:19 UTC</time> '
        '<span class="relative" data-since></span>' in html
    )
    assert " ago<" not in html


def test_the_render_version_names_the_templates_in_use():
    assert render_version() == render_version()
    assert len(render_version()) == 12


def test_the_redis_cache_reuses_one_client_per_pool():
    backend = RedisCache("redis://127.0.0.1:6379/0", {})
    assert backend._cache.get_client(write=True) is backend._cache.get_client(write=True)
    assert backend._cache.get_client("k") is backend._cache.get_client("other")


def test_the_fragment_is_gzipped_without_padding_and_pages_with_it(staff_client, lookup_event):
    lookup_event.return_value = snapshot(status="InProgress")
    gzip_ok = {"Accept-Encoding": "gzip"}
    fragment = staff_client.get(
        reverse("events:status", args=[SMS_ID]), headers={"HX-Request": "true", **gzip_ok}
    )
    page = staff_client.get(PAGE, headers=gzip_ok)
    assert fragment["Content-Encoding"] == page["Content-Encoding"] == "gzip"
    # Django's BREACH padding is a random file name in the gzip header (FLG.FNAME).
    assert fragment.content[3] & 0x08 == 0
    assert page.content[3] & 0x08
    assert "Accept-Encoding" in fragment["Vary"]
    assert gzip.decompress(fragment.content).startswith(b'<section id="status-panel"')
    # The fragment only ever answers htmx; the page keeps every document header.
    assert "X-Frame-Options" not in fragment
    assert page["X-Frame-Options"] == "DENY"


def test_the_fragment_is_plain_for_a_client_without_gzip(staff_client, lookup_event):
    lookup_event.return_value = snapshot(status="InProgress")
    fragment = staff_client.get(
        reverse("events:status", args=[SMS_ID]), headers={"HX-Request": "true"}
    )
    assert "Content-Encoding" not in fragment
    assert fragment.content.startswith(b"<section")
