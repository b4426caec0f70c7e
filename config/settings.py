"""Settings for the portal, read from the environment (and an optional `.env` file).

With DEBUG on, anything unset falls back to the local stack that `make run` starts: SQLite, the
local S3 (SeaweedFS) and the local OpenID provider. With DEBUG off, the settings listed in
`REQUIRED_IN_PRODUCTION` must be given, or the process refuses to start and names what is missing.
"""

from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# The local stack's addresses; devstack/ starts servers on exactly these.
LOCAL_OIDC_ISSUER = "http://127.0.0.1:9400"
LOCAL_S3_ENDPOINT_URL = "http://127.0.0.1:8333"
LOCAL_S3_ACCESS_KEY = "portal-local-key"
LOCAL_S3_SECRET_KEY = "portal-local-secret"  # noqa: S105 - the local stack's, public

REQUIRED_IN_PRODUCTION = (
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "OIDC_ISSUER",
    "OIDC_CLIENT_ID",
    "OIDC_CLIENT_SECRET",
    "S3_BUCKET",
    "SITE_ORIGIN",
)
_missing = [name for name in REQUIRED_IN_PRODUCTION if not env.str(name, default="")]
if _missing and not DEBUG:
    raise ImproperlyConfigured(
        f"DEBUG is off and these required settings are missing: {', '.join(_missing)} "
        "(set them in the environment or in .env; see .env.example)"
    )


def _local_default(value):
    """A default that only applies with DEBUG on; with DEBUG off the variable is required."""
    return value if DEBUG else ""


SECRET_KEY = env.str("SECRET_KEY", default=_local_default("local-development-only-not-secret"))
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# How many proxies (load balancers) stand in front of the app. 0: X-Forwarded-For and
# X-Forwarded-Proto are ignored, REMOTE_ADDR is the client. 1 or more: X-Forwarded-Proto says
# whether the client used HTTPS, and the client IP is that many hops from X-Forwarded-For's right
# (portal/client_ip.py).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT > 0:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "config.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "mozilla_django_oidc",
    "accounts",
    "orders",
    "uploads",
    "portal.apps.PortalConfig",  # registers the rate-limit settings' check
    "audit",
]

MIDDLEWARE = [
    # First: /healthz and /readyz are answered before host checks, redirects and sessions.
    "config.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Outside the session middleware: a 503 page when the database or Redis is down.
    "portal.middleware.OutagePageMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication, so every line of the request carries the user id (portal.request_log).
    "portal.request_log.RequestLogMiddleware",
    "portal.middleware.PrivateWhenSignedInMiddleware",
    "accounts.middleware.SessionRefreshMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

# The portal's pages are Jinja2 (templates/); Django's engine stays for the admin site only.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {
            "environment": "config.jinja2.environment",
            "context_processors": [
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "accounts.context_processors.portal",
            ],
        },
    },
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "config" / "templates"],  # the admin site's header
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, with a health check that looks at the socket instead of a SELECT 1.
    DATABASES["default"]["ENGINE"] = "config.postgresql"
    if env.bool("DB_PREPARED_STATEMENTS", default=True):
        # PostgreSQL spends longer planning our hot queries than running them; with server-side
        # binding psycopg prepares a statement on its second use, and each connection plans it
        # once. Turn off (DB_PREPARED_STATEMENTS=0) behind a transaction-mode connection pooler.
        # Values given in DATABASE_URL's query string win.
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options.setdefault("server_side_binding", True)
        options.setdefault("prepare_threshold", 2)

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "config.cache.PortalRedisCache", "LOCATION": REDIS_URL}}
    # Sessions in Redis, written through to nothing else: any app process can serve any user.
    # Django's cache store, but Redis being down is a 503, not a signed-out user.
    SESSION_ENGINE = "portal.redis_sessions"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    SESSION_ENGINE = "django.contrib.sessions.backends.db"

AUTH_USER_MODEL = "accounts.User"
# Sign-in is OpenID Connect only. A password login exists solely for a deliberately enabled
# break-glass superuser on the admin site (for when the provider itself is down), made with
# `manage.py createsuperuser`; the backend refuses every other account.
ADMIN_BREAK_GLASS_LOGIN = env.bool("ADMIN_BREAK_GLASS_LOGIN", default=False)
AUTHENTICATION_BACKENDS = ["accounts.backends.PortalOIDCBackend"]
if ADMIN_BREAK_GLASS_LOGIN:
    AUTHENTICATION_BACKENDS.append("accounts.break_glass.BreakGlassModelBackend")
# The apps whose data the ADMIN role manages in the admin site (all their permissions).
# audit has only a view permission (its admin is read-only for everyone).
ADMIN_MANAGED_APPS = env.list(
    "ADMIN_MANAGED_APPS", default=["accounts", "orders", "uploads", "audit"]
)
# URL names, resolved by Django (and by our views with resolve_url).
LOGIN_URL = "oidc_authentication_init"
LOGIN_REDIRECT_URL = "order_list"
LOGOUT_REDIRECT_URL = "home"

# OpenID Connect (Okta or any standard provider). Endpoints come from the issuer's discovery
# document; the OIDC_OP_* variables override single endpoints when a provider needs it.
# Compared with tokens exactly as written (some providers end their issuer with "/").
OIDC_ISSUER = env.str("OIDC_ISSUER", default=_local_default(LOCAL_OIDC_ISSUER))
OIDC_RP_CLIENT_ID = env.str("OIDC_CLIENT_ID", default=_local_default("portal-local"))
OIDC_RP_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default=_local_default("portal-local-secret"))
# Empty: "openid profile email", plus "groups" when the provider's discovery offers it.
OIDC_RP_SCOPES = env.str("OIDC_SCOPES", default="")
OIDC_ROLES_CLAIM = env.str("OIDC_ROLES_CLAIM", default="groups")
OIDC_ROLE_MAP = env.str("OIDC_ROLE_MAP", default="portal-admins=ADMIN,portal-users=USER")
OIDC_API_AUDIENCE = env.str("OIDC_API_AUDIENCE", default="api://default")
# Cognito's access tokens have no aud; they name the app client instead (see the README).
OIDC_API_CLIENT_IDS = [
    client.strip() for client in env.list("OIDC_API_CLIENT_IDS", default=[]) if client.strip()
]
OIDC_SIGN_ALGS = env.list("OIDC_SIGN_ALGS", default=["RS256", "ES256"])
OIDC_SESSION_REFRESH_SECONDS = env.int("OIDC_SESSION_REFRESH_SECONDS", default=900)
SUPPORT_CONTACT = env.str("SUPPORT_CONTACT", default="your IT help desk")
CURRENCY = env.str("CURRENCY", default="EUR")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env.str("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_OP_JWKS_ENDPOINT", default="")
OIDC_OP_LOGOUT_ENDPOINT = env.str("OIDC_OP_LOGOUT_ENDPOINT", default="")
OIDC_DISCOVERY_TTL_SECONDS = env.int("OIDC_DISCOVERY_TTL_SECONDS", default=3600)
OIDC_CLOCK_LEEWAY_SECONDS = env.int("OIDC_CLOCK_LEEWAY_SECONDS", default=60)
OIDC_HTTP_TIMEOUT = env.float("OIDC_HTTP_TIMEOUT", default=5.0)
OIDC_JWKS_MIN_REFETCH_SECONDS = env.int("OIDC_JWKS_MIN_REFETCH_SECONDS", default=60)
OIDC_ACCESS_TOKEN_CACHE_SECONDS = env.int("OIDC_ACCESS_TOKEN_CACHE_SECONDS", default=300)
OIDC_OPAQUE_TOKEN_CACHE_SECONDS = env.int("OIDC_OPAQUE_TOKEN_CACHE_SECONDS", default=300)
OIDC_OPAQUE_TOKEN_CHECKS_PER_SECOND = env.int("OIDC_OPAQUE_TOKEN_CHECKS_PER_SECOND", default=10)

# Private image storage. No endpoint means AWS S3 itself.
S3_BUCKET = env.str("S3_BUCKET", default=_local_default("portal-media"))
S3_ENDPOINT_URL = env.str("S3_ENDPOINT_URL", default=_local_default(LOCAL_S3_ENDPOINT_URL)) or None
S3_REGION = env.str("S3_REGION", default="us-east-1")
AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default=_local_default(LOCAL_S3_ACCESS_KEY))
AWS_SECRET_ACCESS_KEY = env.str(
    "AWS_SECRET_ACCESS_KEY", default=_local_default(LOCAL_S3_SECRET_KEY)
)

# Where browsers load the portal from (scheme://host[:port]); the bucket's CORS rule allows it,
# so direct uploads work. Required with DEBUG off: behind proxies it can't be guessed.
SITE_ORIGIN = env.str("SITE_ORIGIN", default=_local_default("http://127.0.0.1:8000"))


# Image uploads (uploads/). Limits are checked on the bytes that arrive, whatever the browser says.
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)
UPLOAD_MAX_PIXELS = env.int("UPLOAD_MAX_PIXELS", default=50_000_000)
UPLOAD_QUOTA_BYTES = env.int("UPLOAD_QUOTA_BYTES", default=1024**3)
# How long a browser's presigned POST to S3 stays usable.
UPLOAD_POST_SECONDS = env.int("UPLOAD_POST_SECONDS", default=600)
# Gallery URLs: each object's URL is signed once per window and reused (browsers cache it too).
IMAGE_URL_WINDOW_SECONDS = env.int("IMAGE_URL_WINDOW_SECONDS", default=300)
# Share links: the longest expiry, and the life of the S3 URL that /s/<token>/raw redirects to.
SHARE_MAX_SECONDS = env.int("SHARE_MAX_SECONDS", default=7 * 24 * 3600)
SHARE_REDIRECT_SECONDS = env.int("SHARE_REDIRECT_SECONDS", default=60)

# Scheduled work (README "Scheduled work"): `manage.py share_links_purge` deletes share links
# this many days after they expired or were revoked (until then their owners still see them).
SHARE_RETENTION_DAYS = env.int("SHARE_RETENTION_DAYS", default=30)

# Health probes (config/health.py). /readyz gives each call to Redis, S3 and the provider this
# long, with no retries; S3's and the provider's answers are reused for a few seconds per
# process, so probes don't hammer them.
READYZ_TIMEOUT_SECONDS = env.float("READYZ_TIMEOUT_SECONDS", default=1.0)
READYZ_STORAGE_CACHE_SECONDS = env.int("READYZ_STORAGE_CACHE_SECONDS", default=10)
READYZ_PROVIDER_CACHE_SECONDS = env.int("READYZ_PROVIDER_CACHE_SECONDS", default=30)

# Rate limits (portal/ratelimits.py): "N/unit" with unit s, m, h or d, optionally a multiple
# ("10/10m"); "0" or empty turns one off. In Redis with REDIS_URL, else per process.
RATELIMIT_SIGNIN = env.str("RATELIMIT_SIGNIN", default="20/m")  # starting a sign-in, per IP
RATELIMIT_SHARE_OPEN = env.str("RATELIMIT_SHARE_OPEN", default="60/m")  # share links, per IP
RATELIMIT_SHARE_OPEN_PER_LINK = env.str("RATELIMIT_SHARE_OPEN_PER_LINK", default="600/m")
RATELIMIT_SHARE_PASSWORD = env.str("RATELIMIT_SHARE_PASSWORD", default="30/h")  # wrong, per IP
RATELIMIT_API = env.str("RATELIMIT_API", default="600/m")  # per signed-in user


def s3_storage_options(*, bucket, endpoint_url, region, access_key, secret_key):
    """Options for django-storages' S3 backend: private objects, signed URLs, unique keys."""
    options = {
        "bucket_name": bucket,
        "region_name": region,
        "default_acl": None,  # objects inherit the bucket's private policy; never public-read
        "querystring_auth": True,  # every URL we hand out is signed and expires
        "querystring_expire": 300,
        "file_overwrite": False,
        "signature_version": "s3v4",
    }
    if endpoint_url:
        options["endpoint_url"] = endpoint_url
    if access_key:  # without keys boto3 uses its usual chain (instance role, profile, ...)
        options["access_key"] = access_key
        options["secret_key"] = secret_key
    return options


STORAGES = {
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": s3_storage_options(
            bucket=S3_BUCKET,
            endpoint_url=S3_ENDPOINT_URL,
            region=S3_REGION,
            access_key=AWS_ACCESS_KEY_ID,
            secret_key=AWS_SECRET_ACCESS_KEY,
        ),
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage",
    },
}

STATIC_URL = "/static/"
# `make serve` makes staticfiles a symlink to the current build (config/collectstatic.py);
# resolved once, so this process keeps serving the build it started with.
STATIC_ROOT = (BASE_DIR / "staticfiles").resolve()
STATICFILES_DIRS = [BASE_DIR / "static"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Berlin")
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# -- Security headers (README "Security headers") -------------------------------------------
# HTTPS only with DEBUG off: plain HTTP gets a 301, except the load balancer's probes. Behind a
# proxy that ends TLS, TRUSTED_PROXY_COUNT must be 1 or more, or every request looks like HTTP.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^readyz/?$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# Preloading is hard to undo (browsers ship the list): only when deliberately asked for.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# check --deploy would suggest preloading on every run; off is the deliberate choice above.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
# No page address (order numbers, image ids) goes to S3 or the provider in a Referer.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_COOKIE_SAMESITE = "Lax"


def web_origin(url: str) -> str:
    """scheme://host[:port] of an absolute URL, as a browser compares origins."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}".lower()


def s3_browser_origins(*, bucket, endpoint_url, region) -> list[str]:
    """The origins browsers fetch images from and POST uploads to: those of the presigned GET
    and POST URLs boto3 makes for this configuration (asked of boto3 itself, offline)."""
    import boto3
    from botocore.config import Config

    options = {"region_name": region, "config": Config(signature_version="s3v4")}
    if endpoint_url:
        options["endpoint_url"] = endpoint_url
    client = boto3.session.Session(
        aws_access_key_id="origin-only",
        aws_secret_access_key="origin-only",  # noqa: S106
    ).client("s3", **options)
    get_url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    origins = {web_origin(get_url), web_origin(client.generate_presigned_post(bucket, "k")["url"])}
    if not endpoint_url and "." not in bucket and region != "us-east-1":
        # AWS answers a new bucket's global address with a 307 to its regional one for a while.
        origins.add(f"https://{bucket}.s3.{region}.amazonaws.com".lower())
    return sorted(origins)


def content_security_policies(
    *, bucket, s3_endpoint_url, region, oidc_issuer, oidc_logout_endpoint
) -> tuple[dict, dict]:
    """The portal's Content-Security-Policy and the share page's tighter one (README)."""
    from django.utils.csp import CSP

    s3 = s3_browser_origins(bucket=bucket, endpoint_url=s3_endpoint_url, region=region)
    # Chromium applies form-action to the redirects after a POST: sign-out ends at the provider.
    provider = sorted({web_origin(url) for url in (oidc_issuer, oidc_logout_endpoint) if url})
    portal = {
        "default-src": [CSP.SELF],
        "script-src": [CSP.SELF, CSP.NONCE],  # the nonce appears only when a template uses it
        "style-src": [CSP.SELF],
        "img-src": [CSP.SELF, *s3],
        "connect-src": [CSP.SELF, *s3],  # direct uploads POST to S3
        "form-action": [CSP.SELF, *provider],
        "frame-ancestors": [CSP.NONE],
        "base-uri": [CSP.NONE],
        "object-src": [CSP.NONE],
    }
    share = {
        "default-src": [CSP.NONE],
        "img-src": [CSP.SELF, *s3],  # 'self': the page's icon
        "style-src": [CSP.SELF],
        "form-action": [CSP.SELF],
        "frame-ancestors": [CSP.NONE],
        "base-uri": [CSP.NONE],
    }
    return portal, share


SECURE_CSP, SHARE_CSP = content_security_policies(
    bucket=S3_BUCKET,
    s3_endpoint_url=S3_ENDPOINT_URL,
    region=S3_REGION,
    oidc_issuer=OIDC_ISSUER,
    oidc_logout_endpoint=OIDC_OP_LOGOUT_ENDPOINT,
)

CSRF_FAILURE_VIEW = "config.views.csrf_failure"
# A form upload is streamed to a temporary file (never held in memory) and cut off past
# UPLOAD_MAX_BYTES; see uploads/upload_handlers.py.
FILE_UPLOAD_HANDLERS = ["uploads.upload_handlers.LimitedTemporaryFileUploadHandler"]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# Logs go to standard error: one JSON object per line (LOG_FORMAT=json, the default with DEBUG
# off), or readable lines (console, the default with DEBUG on, for `make run`). portal.logs
# configures structlog and then this; portal.request_log adds the request's fields.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="console" if DEBUG else "json")
if LOG_FORMAT not in ("json", "console"):
    raise ImproperlyConfigured(f'LOG_FORMAT: "{LOG_FORMAT}" — expected json or console')
# X-Request-ID from the client is taken as the request id only when a proxy we run sets it.
TRUST_REQUEST_ID_HEADER = env.bool("TRUST_REQUEST_ID_HEADER", default=False)
LOGGING_CONFIG = "portal.logs.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "portal.logs.json_formatter"},
        "console": {"()": "portal.logs.console_formatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Django's own handlers (plain text, runserver's unmasked request lines) give way to ours.
        "django": {"handlers": [], "level": LOG_LEVEL},
        "django.server": {"handlers": [], "propagate": True},
    },
}
