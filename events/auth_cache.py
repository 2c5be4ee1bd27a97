"""Each logged-in user, with their permissions, kept for seconds per process.

Every page and poll loads its user, and for a member of a role two more queries load their
permissions. CachedAuthenticationMiddleware is Django's AuthenticationMiddleware, except that
`request.user` comes from a per-process copy (at most LOCAL_COPY_SECONDS old, settings) when
that copy still matches the session: same user, same session hash (which changes with the
password). Anything else takes Django's own path, which loads the user, checks the session
and logs out a session that no longer matches.

A change to a user, their roles or permissions, or a role's permissions applies at once in
the process that made it (signals below) and within LOCAL_COPY_SECONDS in the others (other
gunicorn workers, other instances), as a logout does.
"""

from typing import Any

from django.contrib import auth
from django.contrib.auth import get_user_model
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.auth.models import Group
from django.core.cache import caches
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare
from django.utils.functional import SimpleLazyObject

USER_CACHE_ALIAS = "users"


def _key(user_id: object) -> str:
    return f"user:{user_id}"


class CachedAuthenticationMiddleware(AuthenticationMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: cached_user(request))


def cached_user(request: HttpRequest) -> Any:
    """request.user: this process's copy if it matches the session, else Django's get_user."""
    session = request.session
    user_id = session.get(auth.SESSION_KEY)
    session_hash = session.get(auth.HASH_SESSION_KEY)
    users = caches[USER_CACHE_ALIAS]
    if user_id is not None and session_hash:
        user = users.get(_key(user_id))
        if user is not None and constant_time_compare(session_hash, user.get_session_auth_hash()):
            return user
    user = auth.get_user(request)
    if user.is_authenticated:
        # ModelBackend memoises them on the instance, so they are kept with it.
        user.get_all_permissions()
        users.set(_key(user.pk), user)
    return user


def forget_user(user_id: object) -> None:
    caches[USER_CACHE_ALIAS].delete(_key(user_id))


@receiver(post_save, sender=get_user_model())
@receiver(post_delete, sender=get_user_model())
def _user_changed(sender: object, instance: Any, **_: object) -> None:
    forget_user(instance.pk)


@receiver(m2m_changed, sender=get_user_model().groups.through)
@receiver(m2m_changed, sender=get_user_model().user_permissions.through)
def _memberships_changed(sender: object, instance: Any, reverse: bool, **_: object) -> None:
    if reverse:
        # A role or permission gained or lost users: forget them all (a rare, admin change).
        caches[USER_CACHE_ALIAS].clear()
    else:
        forget_user(instance.pk)


@receiver(m2m_changed, sender=Group.permissions.through)
@receiver(post_delete, sender=Group)
def _role_changed(**_: object) -> None:
    caches[USER_CACHE_ALIAS].clear()
