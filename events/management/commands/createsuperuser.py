"""Django's createsuperuser (`make account`), refusing a username that another user's
differs from only in case or width, as the admin's forms do (events.access.clashing_username)."""

from typing import Any

from django.contrib.auth.management.commands import createsuperuser

from events.access import clashing_username


class Command(createsuperuser.Command):
    def _validate_username(self, username: str, verbose_field_name: str, database: Any) -> Any:
        problem = super()._validate_username(username, verbose_field_name, database)
        if problem is None and username:
            clash = clashing_username(username)
            if clash is not None:
                return (
                    f"Error: {clash!r} is taken, and that {verbose_field_name} in another case "
                    "or width would read as it in the audit trail."
                )
        return problem
