"""Start-up check of the storage settings that are parsed."""

from django.conf import settings
from django.core import checks

from accounts.checks import url_problem


@checks.register()
def check_storage_settings(app_configs=None, **kwargs) -> list[checks.Error]:
    """S3_ENDPOINT_URL, when set (empty means AWS S3 itself)."""
    value = settings.S3_ENDPOINT_URL
    if value and (problem := url_problem(value)):
        return [checks.Error(f'S3_ENDPOINT_URL: "{value}" — {problem}', id="uploads.E001")]
    return []
