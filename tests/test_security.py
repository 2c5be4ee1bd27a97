"""Hardening: CSP, login throttling, production settings, and the API key staying secret."""

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import responses
from axes.models import AccessAttempt
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.views.debug import ExceptionReporter

from events import leadping
from events.models import LookupAudit
from events.services import EventSnapshot
from tests.conftest import TEST_API_BASE, TEST_API_KEY, event_from, payload

ROOT = Path(__file__).resolve().parent.parent
SMS_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


def settings_of(env: dict[str, str], *names: str) -> dict:
    """Settings as a fresh process reads them from `env`."""
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}, default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**_base_env(), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _base_env() -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "LEADPING_"))}
    return {**keep, "DJANGO_SETTINGS_MODULE": "leadping_web.settings"}


# --- content security policy --------------------------------------------------------------


@pytest.fixture
def live_page(staff_client):
    with mock.patch("events.services.lookup_event") as lookup:
        lookup.return_value = EventSnapshot(
            detail=event_from("sms_delivered.json", status="InProgress"),
            fetched_at=timezone.now(),
        )
        yield staff_client.get(reverse("events:detail", args=[SMS_ID]))


def test_pages_carry_a_strict_content_security_policy(live_page):
    policy = live_page["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert "object-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy


def test_every_script_loads_by_nonce_and_nothing_is_inline(live_page):
    html = live_page.content.decode()
    nonce = re.search(r"'nonce-([^']+)'", live_page["Content-Security-Policy"]).group(1)
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts
    assert all(f'nonce="{nonce}"' in tag and "src=" in tag for tag in scripts)
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\shx-on", html)
    assert "js:" not in re.sub(r"<script[^>]*src=[^>]*>", "", html).split("</head>")[1]


@pytest.mark.parametrize("host", ["evil.example", "desk.test:99999", "bad host"])
def test_the_page_refusing_a_forged_host_carries_the_policies_and_its_nonce(client, host):
    response = client.get("/", headers={"Host": host})
    assert response.status_code == 400
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    scripts = re.findall(r"<script\b[^>]*>", response.content.decode())
    assert scripts and all(f'nonce="{nonce}"' in tag for tag in scripts)
    assert response["X-Frame-Options"] == "DENY"


def test_htmx_is_told_never_to_eval_or_inject_styles(live_page):
    config = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", live_page.content.decode())
    settings = json.loads(config.group(1))
    assert settings["allowEval"] is False
    assert settings["includeIndicatorStyles"] is False


# --- login throttling ---------------------------------------------------------------------


def _login(client, password: str):
    return client.post(
        reverse("login"), {"username": "sam", "password": password}, REMOTE_ADDR="10.9.8.7"
    )


def test_repeated_failed_logins_lock_the_account_out_with_a_clear_message(
    client, staff_user, settings
):
    staff_user.set_password("the-right-password-1")
    staff_user.save()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "wrong").status_code == 200
    assert _login(client, "wrong").status_code == 429
    response = _login(client, "the-right-password-1")
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert b"Try again in 15 min," in response.content
    assert response["Retry-After"] == str(15 * 60)
    assert b'href="/accounts/login/"' in response.content
    assert "_auth_user_id" not in client.session


def test_a_team_admin_can_unlock_a_locked_out_account(client, staff_user, settings, admin_client):
    staff_user.set_password("the-right-password-1")
    staff_user.save()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "wrong")
    attempt = AccessAttempt.objects.get()
    response = admin_client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert _login(client, "the-right-password-1").status_code == 302


@pytest.mark.parametrize("next_url", ["/accounts/login/", "/accounts/login/?next=/audit/"])
def test_a_logged_in_user_sent_back_to_the_login_page_lands_on_the_desk(staff_client, next_url):
    response = staff_client.get("/accounts/login/", {"next": next_url})
    assert response.status_code == 302
    assert response["Location"] == reverse("events:lookup")


def test_a_logged_in_user_still_follows_a_safe_next(staff_client):
    response = staff_client.get("/accounts/login/", {"next": "/preferences/"})
    assert response["Location"] == "/preferences/"


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_a_username_too_long_for_the_lockout_table_is_a_failed_login_not_a_500(db, client, path):
    # AccessAttempt.username is varchar(255): PostgreSQL refused a longer one (a 500).
    response = client.post(path, {"username": "x" * 300, "password": "wrong"})
    assert response.status_code == 200
    assert [len(a.username) for a in AccessAttempt.objects.all()] == [255]


# --- production settings ------------------------------------------------------------------

PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "x" * 20 + "-production-secret-key-0123456789",
}


def test_production_turns_the_https_protections_on_by_default():
    values = settings_of(
        PRODUCTION,
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY",
        "SECURE_HSTS_SECONDS",
    )
    assert values == {
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SECURE_HSTS_SECONDS": 31536000,
    }


def test_each_https_protection_can_be_switched_off_for_loopback_runs():
    values = settings_of(
        {
            **PRODUCTION,
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_SECURE_COOKIES": "false",
            "DJANGO_HSTS_SECONDS": "0",
            "DJANGO_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
        },
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "SECURE_PROXY_SSL_HEADER",
    )
    assert values == {
        "SECURE_SSL_REDIRECT": False,
        "SESSION_COOKIE_SECURE": False,
        "SECURE_HSTS_SECONDS": 0,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
    }


def test_session_expiry_is_configurable():
    assert settings_of({"DJANGO_SESSION_AGE": "900"}, "SESSION_COOKIE_AGE") == {
        "SESSION_COOKIE_AGE": 900
    }


def test_check_deploy_reports_no_issues_in_production():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**_base_env(), **PRODUCTION},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# --- the API key stays on the server ------------------------------------------------------


def test_the_api_key_never_reaches_a_page_a_fragment_or_a_log(staff_client, caplog):
    caplog.set_level(logging.DEBUG)
    pages = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as upstream:
        upstream.get(f"{TEST_API_BASE}/events/{SMS_ID}/detail", json=payload("sms_delivered.json"))
        upstream.get(f"{TEST_API_BASE}/events/evt-401/detail", status=401)
        upstream.get(f"{TEST_API_BASE}/events/evt-500/detail", status=500, body=TEST_API_KEY)
        pages.append(staff_client.get(reverse("events:detail", args=[SMS_ID])))
        pages.append(
            staff_client.get(
                reverse("events:status", args=[SMS_ID]), headers={"HX-Request": "true"}
            )
        )
        pages.append(staff_client.get(reverse("events:raw", args=[SMS_ID])))
        pages.append(staff_client.get(reverse("events:detail", args=["evt-401"])))
        pages.append(staff_client.get(reverse("events:detail", args=["evt-500"])))
        pages.append(staff_client.get(reverse("events:desk_status")))
    for response in pages:
        assert TEST_API_KEY.encode() not in response.content
        assert all(TEST_API_KEY not in value for value in response.headers.values())
    assert TEST_API_KEY not in caplog.text


def test_the_api_key_is_hidden_in_error_reports():
    request = RequestFactory().get("/")
    try:
        raise leadping.UpstreamUnavailable()
    except leadping.UpstreamUnavailable:
        report = ExceptionReporter(request, *sys.exc_info()).get_traceback_text()
    assert TEST_API_KEY not in report


# --- text no database or page can hold ------------------------------------------------------


@pytest.mark.parametrize("viewer", ["staff_client", "masked_client"])
def test_an_answer_with_a_lone_surrogate_renders_everywhere(viewer, request):
    client = request.getfixturevalue(viewer)
    body = json.dumps(
        {
            **payload("sms_delivered.json"),
            "status": "InProgress",
            "summary": "half \ud800 pair",
            "fullPayload": json.dumps({"to": "+15125550147", "note": "\udfff"}),
        }
    )
    with responses.RequestsMock() as upstream:
        upstream.get(f"{TEST_API_BASE}/events/{SMS_ID}/detail", body=body)
        page = client.get(reverse("events:detail", args=[SMS_ID]))
        poll = client.get(reverse("events:status", args=[SMS_ID]), headers={"HX-Request": "true"})
        raw = client.get(reverse("events:raw", args=[SMS_ID]))

    assert (page.status_code, poll.status_code, raw.status_code) == (200, 200, 200)
    assert "half \ufffd pair".encode() in page.content
    assert "\ufffd".encode() in raw.content


def test_nul_in_what_leadping_sent_or_staff_typed_is_kept_in_the_audit_trail(staff_client):
    with responses.RequestsMock() as upstream:
        upstream.get(
            f"{TEST_API_BASE}/events/{SMS_ID}/detail",
            json={
                **payload("sms_delivered.json"),
                "status": "Completed\x00",
                "timelineType": "S\x00",
            },
        )
        assert staff_client.get(reverse("events:detail", args=[SMS_ID])).status_code == 200
    typed = staff_client.get(
        reverse("events:lookup"), {"q": "no id\x00 here"}, HTTP_USER_AGENT="x\x00"
    )
    assert typed.status_code == 400

    rows = {row.kind: row for row in LookupAudit.objects.all()}
    # PostgreSQL refuses NUL in text: the rows are written with U+FFFD in its place.
    assert (rows["page"].status, rows["page"].event_type) == ("Completed\ufffd", "S\ufffd")
    assert rows["search"].event_id == "no id\ufffd here"
    assert rows["search"].user_agent == "x\ufffd"


# --- the shared cache down ----------------------------------------------------------------


@pytest.fixture
def redis_down(settings):
    """The production cache setting, pointed at a port where no Redis answers."""
    working = settings.CACHES
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "leadping_web.redis_cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
    }
    yield
    settings.CACHES = working  # before the caches are cleared after the test


def test_with_redis_down_a_lookup_says_so_and_never_calls_leadping(
    staff_client, staff_user, redis_down
):
    with responses.RequestsMock() as upstream:  # any call to LeadPing would fail the test
        page = staff_client.get(reverse("events:detail", args=[SMS_ID]))
        poll = staff_client.get(
            reverse("events:status", args=[SMS_ID]), headers={"HX-Request": "true"}
        )
        assert not upstream.calls

    assert page.status_code == 503
    assert b"The desk cannot look events up right now" in page.content
    assert b"REDIS_URL" in page.content
    assert poll.status_code == 503
    assert b"shared cache (Redis)" in poll.content
    assert page["Retry-After"] == poll["Retry-After"] == "10"
    row = LookupAudit.objects.get()
    assert (row.kind, row.outcome) == ("page", "unavailable")


def test_with_redis_down_the_status_page_and_metrics_say_so(staff_client, redis_down, settings):
    status = staff_client.get(reverse("events:desk_status"))
    assert status.status_code == 200
    assert b"cannot reach its shared cache (Redis)" in status.content

    settings.METRICS_TOKEN = "scrape-me"
    metrics = staff_client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert metrics.status_code == 503


def test_the_poll_version_in_a_masked_page_does_not_give_the_masked_digits_away(masked_client):
    """The page's ?v= (and data-version) must not be a plain hash of the unmasked JSON: with
    the masked JSON and the last 4 digits, a viewer could try every candidate number offline."""
    import hashlib

    event_id = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
    body = {
        "id": event_id,
        "timelineType": "Sms",
        "status": "InProgress",
        "fromPhoneNumber": "+15125550147",
        "toPhoneNumber": "+12025553817",
    }
    with responses.RequestsMock() as upstream:
        upstream.get(f"{TEST_API_BASE}/events/{event_id}/detail", json=body)
        page = masked_client.get(reverse("events:detail", args=[event_id]))
        raw = masked_client.get(reverse("events:raw", args=[event_id]))
    html = page.content.decode()
    version = re.search(r'data-version="([0-9a-f]+)"', html).group(1)
    assert f"?v={version}" in html
    assert "+12025553817" not in html and "+12025553817" not in raw.content.decode()

    # The masked JSON with the right guess put back: what a viewer would hash to check it.
    guess = {**json.loads(raw.content), "fromPhoneNumber": "+15125550147"}
    guess["toPhoneNumber"] = "+12025553817"
    unkeyed = hashlib.blake2b(
        json.dumps(guess, indent=2, ensure_ascii=False).encode(), digest_size=8
    )
    unkeyed.update(b"fresh")
    assert unkeyed.hexdigest() != version


# --- what a viewer without the full-numbers permission may not get -------------------------


def _json_escaped(text: str) -> str:
    return "".join(f"\\u{ord(char):04x}" for char in text)


@pytest.mark.parametrize("viewer", ["staff_client", "masked_client"])
def test_the_api_key_inside_full_payload_escapes_is_blanked(viewer, request):
    """fullPayload is JSON in a string: its own escapes hide the key from the body's check,
    and decoding it (the masking does, so does anyone reading the download) brings it back."""
    client = request.getfixturevalue(viewer)
    inner = '{"to": "+15125550147", "echo": "' + _json_escaped(TEST_API_KEY) + '"}'
    body = json.dumps({**payload("sms_delivered.json"), "fullPayload": inner})
    with responses.RequestsMock() as upstream:
        upstream.get(f"{TEST_API_BASE}/events/{SMS_ID}/detail", body=body)
        page = client.get(reverse("events:detail", args=[SMS_ID]))
        raw = client.get(reverse("events:raw", args=[SMS_ID]))
    assert TEST_API_KEY not in page.content.decode()
    assert TEST_API_KEY not in raw.content.decode()
    assert TEST_API_KEY not in json.loads(json.loads(raw.content)["fullPayload"])["echo"]


def test_numbers_as_json_names_national_integers_floats_and_answered_ids_are_masked(
    masked_client,
):
    body = {
        **payload("sms_delivered.json"),
        "id": "evt-14155550100",
        "extra": {"+14155550137": "Ann", "national": 6502530140, "float": 14155550141.0},
        "fullPayload": json.dumps({"+14155550116": "Bob", "contactNumbers": [4155550114]}),
    }
    with responses.RequestsMock() as upstream:
        upstream.get(f"{TEST_API_BASE}/events/{SMS_ID}/detail", json=body)
        page = masked_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()
        raw = masked_client.get(reverse("events:raw", args=[SMS_ID])).content.decode()
    for text in (page, raw):
        for number in ["4155550100", "4155550137", "6502530140", "4155550141", "4155550116"]:
            assert number not in text, number
        assert "4155550114" not in text
    assert "<title>" in page and "evt-•••0100" in page


def test_a_number_in_leadpings_error_detail_is_masked_on_the_page_and_the_poll(
    masked_client,
):
    problem = {"title": "Error", "status": 500, "detail": "Number +1 415 555 0151 failed"}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as upstream:
        upstream.get(f"{TEST_API_BASE}/events/evt-500/detail", status=500, json=problem)
        page = masked_client.get(reverse("events:detail", args=["evt-500"]))
        poll = masked_client.get(
            reverse("events:status", args=["evt-500"]), headers={"HX-Request": "true"}
        )
    for response in (page, poll):
        assert "415 555 0151" not in response.content.decode()
        assert "•••0151" in response.content.decode()


def test_a_stale_reason_holding_a_number_is_masked(masked_client):
    stale = EventSnapshot(
        detail=event_from("sms_delivered.json", status="InProgress"),
        fetched_at=timezone.now(),
        stale_reason="LeadPing answered with an error (HTTP 500): +1 415 555 0152 failed.",
    )
    with mock.patch("events.services.lookup_event", return_value=stale):
        html = masked_client.get(reverse("events:detail", args=[SMS_ID])).content.decode()
    assert "415 555 0152" not in html
    assert "•••0152 failed." in html


def test_recent_lookups_mask_numbers_in_the_status_and_type_kept_as_received(
    masked_client, staff_user
):
    LookupAudit.objects.create(
        user=staff_user,
        username="sam",
        event_id="evt-team",
        kind="page",
        outcome="found",
        event_type="Fax +1 415 555 0120",
        status="Bounced by +1 415 555 0124",
    )
    html = masked_client.get(reverse("events:lookup")).content.decode()
    assert "evt-team" in html
    assert "415 555 0120" not in html and "415 555 0124" not in html
    assert "•••0124" in html


def test_a_recent_lookup_whose_id_holds_a_number_is_shown_masked_and_not_linked(
    masked_client, staff_user
):
    for event_id in ("live-14155550198", "live-4155550198", "evt-plain"):
        LookupAudit.objects.create(
            user=staff_user, username="sam", event_id=event_id, kind="page", outcome="found"
        )
    html = masked_client.get(reverse("events:lookup")).content.decode()
    assert "4155550198" not in html
    # Masked, the ID is no event: a link would lead to "not an event ID" (and be recorded).
    assert "live-•••0198" in html
    assert "/events/live-%E2%80%A2" not in html and "/events/live-•" not in html
    assert 'href="/events/evt-plain/"' in html


def test_the_api_key_pasted_as_an_event_id_is_refused_and_never_recorded(staff_client, settings):
    key = settings.LEADPING_API_KEY
    with responses.RequestsMock(assert_all_requests_are_fired=False) as upstream:
        for url in (f"/events/{key}/", f"/events/{key.upper()}/", f"/?q={key}"):
            response = staff_client.get(url)
            assert response.status_code == 400, url
            html = response.content.decode()
            assert key.lower() not in html.lower(), url
            assert "API key" in html
        assert not upstream.calls
    stored = list(LookupAudit.objects.values_list("event_id", flat=True))
    assert stored and all(key.lower() not in value.lower() for value in stored)
    assert all("[redacted]" in value for value in stored)
