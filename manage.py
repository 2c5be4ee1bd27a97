#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadping_web.settings")
    try:
        from django.core.exceptions import ImproperlyConfigured
        from django.core.management import execute_from_command_line
        from django.db import OperationalError
    except ImportError:
        sys.exit(
            "Django is not installed for this Python: run `make run` once (it makes .venv), "
            "then use .venv/bin/python manage.py …"
        )
    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        # A setting read from the environment is malformed: its message names it.
        sys.exit(f"Configuration error: {error}")
    except OperationalError as error:
        # The database did not answer (make serve's migrate, make account…): its first line
        # says why (refused, unknown host, bad password), the rest is Django's traceback.
        reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        sys.exit(f"Database error: {reason}. Check DATABASE_URL.")


if __name__ == "__main__":
    main()
