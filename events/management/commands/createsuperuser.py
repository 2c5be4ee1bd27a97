"""Django's createsuperuser (`make account`), refusing a username that could pass for
another user's, or take over the audit trail's rows of an account renamed or deleted, as the
admin's forms do (events.access.username_problem)."""

from typing import Any

from django.contrib.auth.management.commands import createsuperuser

from events.access import username_problem


class Command(createsuperuser.Command):
    def _validate_username(self, username: str, verbose_field_name: str, database: Any) -> Any:
        problem = super()._validate_username(username, verbose_field_name, database)
        if problem is None and username:
            refusal = username_problem(username)
            if refusal is not None:
                return f"Error: {refusal}"
        return problem
