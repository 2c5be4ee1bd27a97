"""Django's ModelBackend, with each logged-in user (and their permissions) kept for seconds.

Every page and poll loads its user, and for a member of a role two more queries load their
permissions. CachedModelBackend keeps the user, permissions included, in a per-process
local-memory cache for at most LOCAL_COPY_SECONDS (settings). A change to a user, to their
roles or permissions, or to a role's permissions applies at once in the process that made
it and within LOCAL_COPY_SECONDS in the others (other gunicorn workers, other instances),
as a logout does.
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.core.cache import caches
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

USER_CACHE_ALIAS = "users"


def _key(user_id: object) -> str:
    return f"user:{user_id}"


class CachedModelBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        users = caches[USER_CACHE_ALIAS]
        user = users.get(_key(user_id))
        if user is None:
            user = super().get_user(user_id)
            if user is None:
                return None
            # ModelBackend memoises them on the instance, so they are cached with it.
            self.get_all_permissions(user)
            users.set(_key(user_id), user)
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
