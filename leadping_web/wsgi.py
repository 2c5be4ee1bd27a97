"""WSGI entry point, used by gunicorn (`gunicorn leadping_web.wsgi`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadping_web.settings")

application = get_wsgi_application()
