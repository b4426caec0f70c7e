"""Start-up check of the rate-limit settings: a typo stops `check` and `runserver` with the
variable's name and the bad part, instead of a 500 on the first request it guards."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from portal.ratelimits import RATE_SETTINGS, parse_rate


@checks.register()
def check_rate_limit_settings(app_configs=None, **kwargs) -> list[checks.Error]:
    """Each RATELIMIT_* is "N/unit" (20/m, 10/10m), or "0" or empty for off."""
    errors = []
    for name in RATE_SETTINGS:
        value = getattr(settings, name)
        if not isinstance(value, str):
            errors.append(checks.Error(f"{name}: must be text like 20/m", id="portal.E001"))
            continue
        try:
            parse_rate(value)
        except ValueError as error:
            errors.append(checks.Error(f"{name}: {error}", id="portal.E001"))
    return errors
