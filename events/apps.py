import logging

from django.apps import AppConfig
from django.conf import settings


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "LeadPing events"

    def ready(self) -> None:
        from events import auth_cache, checks, middleware  # noqa: F401 - checks and signals

        if settings.LOG_FORMAT == "json":
            # Python warnings (whitenoise's, say) must be JSON lines too, not bare stderr text.
            logging.captureWarnings(True)
