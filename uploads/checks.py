"""Checks of the storage settings: parsed ones at start-up, the bucket itself with --deploy."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks

from accounts.checks import plain_http_problem, url_problem


@checks.register()
def check_storage_settings(app_configs=None, **kwargs) -> list[checks.Error]:
    """S3_ENDPOINT_URL, when set (empty means AWS S3 itself), and SITE_ORIGIN."""
    errors = []
    value = settings.S3_ENDPOINT_URL
    if value and (problem := url_problem(value)):
        errors.append(checks.Error(f'S3_ENDPOINT_URL: "{value}" — {problem}', id="uploads.E001"))
    origin = settings.SITE_ORIGIN
    problem = url_problem(origin)
    if not problem and (urlsplit(origin).path or urlsplit(origin).query):
        # Browsers send Origin without a path; CORS compares it exactly, so "/" would not match.
        problem = "an origin is scheme://host[:port], without a path, a trailing / or a query"
    if problem:
        errors.append(checks.Error(f'SITE_ORIGIN: "{origin}" — {problem}', id="uploads.E002"))
    return errors


@checks.register(checks.Tags.security)
def check_storage_uses_https(app_configs=None, **kwargs) -> list[checks.Error]:
    """With DEBUG off, S3 and the site are reached over https:// unless they are on loopback."""
    if settings.DEBUG:
        return []
    errors = []
    for variable, value in (
        ("S3_ENDPOINT_URL", settings.S3_ENDPOINT_URL),
        ("SITE_ORIGIN", settings.SITE_ORIGIN),
    ):
        if value and not url_problem(value) and (problem := plain_http_problem(value)):
            errors.append(checks.Error(f'{variable}: "{value}" — {problem}', id="uploads.E005"))
    return errors


# S3 signs URLs for at most 7 days; a POST policy takes one object of at most 5 GB.
PRESIGN_MAX_SECONDS = 7 * 24 * 3600
POST_MAX_BYTES = 5 * 1024**3
# (setting, smallest, largest, why the bound)
LIMITS = (
    ("UPLOAD_MAX_BYTES", 1, POST_MAX_BYTES, "S3 takes at most 5 GB in one upload"),
    ("UPLOAD_MAX_PIXELS", 1, 10**9, "a billion pixels is past any camera"),
    ("UPLOAD_QUOTA_BYTES", 0, 2**62, "a size in bytes"),
    ("UPLOAD_POST_SECONDS", 1, PRESIGN_MAX_SECONDS, "S3 signs for at most 7 days"),
    ("IMAGE_URL_WINDOW_SECONDS", 1, PRESIGN_MAX_SECONDS // 2, "URLs live two windows"),
    ("SHARE_MAX_SECONDS", 60, 10 * 365 * 24 * 3600, "a link lives a minute to 10 years"),
    ("SHARE_REDIRECT_SECONDS", 1, PRESIGN_MAX_SECONDS, "S3 signs for at most 7 days"),
    ("SHARE_RETENTION_DAYS", 0, 10 * 365, "days a link is kept after it ended"),
)


@checks.register()
def check_upload_limits(app_configs=None, **kwargs) -> list[checks.Error]:
    errors = []
    for name, smallest, largest, why in LIMITS:
        value = getattr(settings, name)
        if not smallest <= value <= largest:
            errors.append(
                checks.Error(
                    f"{name}: {value} — must be from {smallest} to {largest} ({why})",
                    id="uploads.E004",
                )
            )
    return errors


# Only with `manage.py check --deploy`: it makes S3 calls (and writes a probe object), which
# every other manage.py command, test run and start-up must not pay for or depend on.
@checks.register(deploy=True)
def check_bucket(app_configs=None, **kwargs) -> list[checks.Error]:
    """The four checks of `manage.py s3_check`."""
    from uploads.s3 import bucket_check_results

    results = bucket_check_results(bucket=settings.S3_BUCKET, origin=settings.SITE_ORIGIN)
    return [
        checks.Error(f"S3: {name}: {problem}", id="uploads.E003")
        for name, problem in results
        if problem is not None
    ]
