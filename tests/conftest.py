import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission

from events.detail import EventDetail, parse_event_detail

PAYLOADS = Path(__file__).parent / "payloads"
TEST_API_BASE = "https://leadping.test"
TEST_API_KEY = "lp_test_secret_key_123"


def payload_text(name: str) -> str:
    """A saved LeadPing answer from tests/payloads."""
    return (PAYLOADS / name).read_text()


def payload(name: str) -> Any:
    return json.loads(payload_text(name))


def event_from(name: str, **changes: Any) -> EventDetail:
    """An EventDetail parsed from a saved payload, with fields of the payload overridden."""
    data = {**payload(name), **changes}
    return parse_event_detail(data, requested_id=data["id"])


@pytest.fixture(autouse=True)
def _desk_test_settings(settings):
    """Plain static storage (no manifest needed) and a fake LeadPing that no test reaches."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.LEADPING_API_BASE_URL = TEST_API_BASE
    settings.LEADPING_API_KEY = TEST_API_KEY
    settings.LEADPING_SANDBOX = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The test client speaks plain HTTP; test_security.py checks the production values.
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False


@pytest.fixture(autouse=True)
def _fresh_upstream_state():
    """Every test starts with empty caches (answers and rendered pages), a full call budget
    and no Retry-After."""
    from django.core.cache import caches

    from events import services, upstream

    for cache in caches.all():
        cache.clear()
    upstream.reset_budget()
    services._refusals.forget()
    yield
    for cache in caches.all():
        cache.clear()


def role(name: str) -> Group:
    """A role group made by the roles migration (re-made if a transactional test flushed it)."""
    if not Group.objects.filter(name=name).exists():
        from django.apps import apps

        importlib.import_module("events.migrations.0003_roles").create_roles(apps, None)
    return Group.objects.get(name=name)


@pytest.fixture
def staff_user(django_user_model):
    """A member of the Support role."""
    user = django_user_model.objects.create_user("sam", password="not-used-in-tests")
    user.groups.add(role("Support"))
    return user


@pytest.fixture
def team_admin(django_user_model):
    user = django_user_model.objects.create_user(
        "tess", password="not-used-in-tests", is_staff=True
    )
    user.groups.add(role("Team admin"))
    return user


@pytest.fixture
def team_admin_client(client, team_admin):
    client.force_login(team_admin)
    return client


@pytest.fixture
def masked_client(client, django_user_model):
    """A user who may look up events but not see full phone numbers."""
    user = django_user_model.objects.create_user("mo", password="not-used-in-tests")
    user.user_permissions.add(Permission.objects.get(codename="lookup_event"))
    client.force_login(user)
    return client


@pytest.fixture
def staff_client(client, staff_user):
    """A logged-in support person allowed to look up events."""
    client.force_login(staff_user)
    return client


@pytest.fixture
def unprivileged_client(client, django_user_model):
    """A logged-in user without the permission to look up events."""
    user = django_user_model.objects.create_user("visitor", password="not-used-in-tests")
    client.force_login(user)
    return client
