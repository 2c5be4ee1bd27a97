"""Every page but login, static files and health checks needs a permitted, logged-in user."""

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from events.access import client_ip

# readyz is a probe; metrics answers 401/403 itself, for scrapers (tests/test_metrics.py).
PUBLIC = {"login", "logout", "healthz", "readyz", "metrics"}


def _named_patterns(resolver: URLResolver, namespace: str = ""):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.app_name == "admin":
                continue  # the admin guards itself; it is checked below
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _named_patterns(pattern, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield f"{namespace}{pattern.name}", pattern


def _example_url(name: str, pattern: URLPattern) -> str:
    args = {key: "evt_1" for key in pattern.pattern.converters}
    return reverse(name, kwargs=args)


DESK_URLS = [
    _example_url(name, pattern)
    for name, pattern in _named_patterns(get_resolver())
    if name not in PUBLIC
]


def test_the_walk_found_the_desk_pages():
    assert "/" in DESK_URLS
    assert "/events/evt_1/status/" in DESK_URLS


@pytest.mark.parametrize("url", DESK_URLS)
def test_it_sends_anonymous_visitors_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize(
    "url", [u for u in DESK_URLS if u.startswith(("/events/", "/?")) or u == "/"]
)
def test_it_returns_403_to_users_without_the_lookup_permission(unprivileged_client, url):
    response = unprivileged_client.get(url)
    assert response.status_code == 403
    assert b"Support role" in response.content


@pytest.mark.parametrize("url", ["/events/evt_1/status/", "/events/evt_1/details/"])
def test_a_poll_after_the_permission_was_taken_away_reloads_the_page(unprivileged_client, url):
    # Not Django's HTML 403 page, which desk.js would quote in the panel's note, and a poll
    # that goes on: the whole tab reloads, to the 403 page.
    response = unprivileged_client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert response["HX-Refresh"] == "true"
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content == b"Your account may no longer look up events."


def test_the_admin_needs_a_staff_login(client):
    assert client.get("/admin/").status_code == 302


def test_a_permalink_opened_logged_out_comes_back_after_login(client, staff_user):
    staff_user.set_password("correct horse battery staple")
    staff_user.save()
    response = client.get("/events/evt_1/")
    assert response["Location"] == "/accounts/login/?next=/events/evt_1/"
    response = client.post(
        "/accounts/login/?next=/events/evt_1/",
        {"username": "sam", "password": "correct horse battery staple", "next": "/events/evt_1/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/events/evt_1/"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_login_never_redirects_off_site(client, staff_user, target):
    staff_user.set_password("correct horse battery staple")
    staff_user.save()
    response = client.post(
        "/accounts/login/",
        {"username": "sam", "password": "correct horse battery staple", "next": target},
    )
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_logout_takes_a_post_only(staff_client):
    assert staff_client.get("/accounts/logout/").status_code == 405
    response = staff_client.post("/accounts/logout/")
    assert response.status_code == 302
    assert staff_client.get("/").status_code == 302


def test_the_login_page_after_a_logout_says_it_worked(staff_client):
    response = staff_client.post("/accounts/logout/", follow=True)
    assert response.status_code == 200
    assert "You have been logged out." in response.content.decode()


def test_an_inactive_user_is_logged_out(staff_client, staff_user):
    staff_user.is_active = False
    staff_user.save()
    assert staff_client.get("/").status_code == 302


def test_a_superuser_may_look_up_events(admin_client):
    assert admin_client.get("/").status_code == 200


def test_admin_pages_name_the_desks_icon(admin_client):
    html = admin_client.get("/admin/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    assert "LeadPing Event Desk administration" in html


# --- the client's address -----------------------------------------------------------------


def test_without_trusted_proxies_the_client_is_the_peer(rf, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    request = rf.get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="6.6.6.6")
    assert client_ip(request) == "10.0.0.9"


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (1, "203.0.113.7", "203.0.113.7"),
        # Entries left of those the proxies added are the client's to write.
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),
        (2, "6.6.6.6, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
        (1, " 2001:db8::1 ", "2001:db8::1"),
        # With a port, as some proxies write it.
        (1, "203.0.113.9:443", "203.0.113.9"),
        (1, "[2001:db8::1]:443", "2001:db8::1"),
        # Not through the proxies, or nothing readable: the peer.
        (2, "203.0.113.7", "10.0.0.9"),
        (1, "", "10.0.0.9"),
        (1, "unknown", "10.0.0.9"),
    ],
)
def test_behind_trusted_proxies_the_client_is_who_the_outermost_one_saw(
    rf, settings, count, forwarded, expected
):
    settings.TRUSTED_PROXY_COUNT = count
    request = rf.get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_behind_a_proxy_a_locked_out_address_does_not_lock_out_everyone(
    client, settings, staff_user
):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.AXES_FAILURE_LIMIT = 2
    staff_user.set_password("the-right-password-1")
    staff_user.save()
    login = reverse("login")
    for _ in range(2):
        client.post(
            login,
            {"username": "sam", "password": "wrong"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.1",
        )
    attacker = client.post(
        login, {"username": "sam", "password": "wrong"}, HTTP_X_FORWARDED_FOR="198.51.100.1"
    )
    assert attacker.status_code == 429
    owner = Client().post(
        login,
        {"username": "sam", "password": "the-right-password-1"},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="203.0.113.5",
    )
    assert owner.status_code == 302
