"""System checks for LeadPing settings that are legal but probably wrong."""

from typing import Any

import phonenumbers
from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def leadping_settings(app_configs: Any, **kwargs: Any) -> list[Error | Warning]:
    problems: list[Error | Warning] = []
    if not settings.LEADPING_SANDBOX and not settings.LEADPING_API_KEY.startswith("lp_"):
        problems.append(
            Warning(
                "LEADPING_API_KEY does not start with lp_, as LeadPing business keys do.",
                hint="Copy the key again from LeadPing's settings page.",
                id="events.W001",
            )
        )
    if settings.LEADPING_DEFAULT_REGION not in phonenumbers.SUPPORTED_REGIONS:
        problems.append(
            Error(
                f"LEADPING_DEFAULT_REGION {settings.LEADPING_DEFAULT_REGION!r} is not a region "
                "code phonenumbers knows.",
                hint="Use a two-letter region code such as US, GB or FR.",
                id="events.E001",
            )
        )
    calls, burst = settings.LEADPING_BUDGET_CALLS, settings.LEADPING_BUDGET_BURST
    if calls >= 4 and burst > calls // 2:
        steady = max(calls - burst, 1)
        problems.append(
            Warning(
                f"LEADPING_BUDGET_BURST ({burst}) leaves {steady} of LEADPING_BUDGET_CALLS "
                f"({calls}) to refill over LEADPING_BUDGET_SECONDS "
                f"({settings.LEADPING_BUDGET_SECONDS} s): once the burst is spent, the desk "
                "calls LeadPing that slowly.",
                hint="Leave LEADPING_BUDGET_BURST unset (a tenth of the calls, 20 at most).",
                id="events.W002",
            )
        )
    return problems
