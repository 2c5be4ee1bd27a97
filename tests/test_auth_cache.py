"""Logged-in users are read from a short-lived per-process copy; changes still apply."""

import time
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.conftest import role

pytestmark = pytest.mark.django_db

LOOKUP = reverse("events:lookup")


def _user_queries(queries) -> list[str]:
    return [q["sql"] for q in queries if "auth_user" in q["sql"] or "auth_permission" in q["sql"]]


def test_a_user_and_their_permissions_are_read_once_per_window(staff_client):
    staff_client.get(LOOKUP)  # fills this process's copy
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(LOOKUP)
    assert response.status_code == 200
    assert _user_queries(queries.captured_queries) == []


def test_deactivating_a_user_here_logs_them_out_at_once(staff_client, staff_user):
    assert staff_client.get(LOOKUP).status_code == 200
    staff_user.is_active = False
    staff_user.save()
    assert staff_client.get(LOOKUP).status_code == 302


def test_taking_a_role_away_here_applies_at_once(staff_client, staff_user):
    assert staff_client.get(LOOKUP).status_code == 200
    staff_user.groups.remove(role("Support"))
    assert staff_client.get(LOOKUP).status_code == 403


def test_changing_a_roles_permissions_applies_at_once(staff_client):
    assert staff_client.get(LOOKUP).status_code == 200
    role("Support").permissions.clear()
    assert staff_client.get(LOOKUP).status_code == 403


def test_a_change_made_by_another_process_applies_within_the_window(
    staff_client, staff_user, settings
):
    assert staff_client.get(LOOKUP).status_code == 200
    # .update() sends no signal: as if another gunicorn worker had deactivated the user.
    get_user_model().objects.filter(pk=staff_user.pk).update(is_active=False)
    assert staff_client.get(LOOKUP).status_code == 200  # this process's copy, for now

    later = time.time() + settings.LOCAL_COPY_SECONDS + 1
    with mock.patch("time.time", return_value=later):
        assert staff_client.get(LOOKUP).status_code == 302


def test_a_session_updated_for_a_new_password_elsewhere_stays_logged_in(staff_client, staff_user):
    """Another instance changed the password and re-hashed this session: the stale copy
    here must not log the session out."""
    from django.contrib.auth import HASH_SESSION_KEY
    from django.contrib.auth.hashers import make_password

    assert staff_client.get(LOOKUP).status_code == 200  # this process's copy: old password
    new_password = make_password("a-new-password-for-sam")
    get_user_model().objects.filter(pk=staff_user.pk).update(password=new_password)
    staff_user.password = new_password
    session = staff_client.session
    session[HASH_SESSION_KEY] = staff_user.get_session_auth_hash()
    session.save()

    assert staff_client.get(LOOKUP).status_code == 200


def test_a_session_of_an_old_password_is_logged_out_once_the_copy_expires(
    staff_client, staff_user, settings
):
    from django.contrib.auth.hashers import make_password

    assert staff_client.get(LOOKUP).status_code == 200
    new_password = make_password("a-new-password-for-sam")
    get_user_model().objects.filter(pk=staff_user.pk).update(password=new_password)

    later = time.time() + settings.LOCAL_COPY_SECONDS + 1
    with mock.patch("time.time", return_value=later):
        assert staff_client.get(LOOKUP).status_code == 302
