"""Security headers and HTTPS with production settings: `check --deploy` passes, plain HTTP is
redirected (except the probes), http:// endpoints only on loopback, and the CSP is strict."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from django.test import override_settings
from django.utils.csp import build_policy
from storages.backends.s3 import S3Storage

from accounts.checks import check_provider_uses_https
from config.settings import content_security_policies, s3_browser_origins, s3_storage_options
from config.tests.test_settings import PRODUCTION_ENV, ROOT, manage_py
from uploads.checks import check_storage_uses_https

SITE = "https://portal.example.com"


def manage(*args, **overrides) -> subprocess.CompletedProcess:
    """manage.py in a fresh process with the production environment (DEBUG off)."""
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    # A key that looks random: check --deploy rightly flags PRODUCTION_ENV's "xxx…".
    env.update(PRODUCTION_ENV, SECRET_KEY=secrets.token_urlsafe(50), **overrides)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    # The browser fixture sets it in this process; a deployment must not (async.E001).
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return manage_py(*args, env=env)


@pytest.fixture
def production_s3(local_stack):
    """The environment for a fresh bucket on the local S3 (http:// on loopback is allowed),
    bootstrapped for SITE_ORIGIN; removed afterwards."""
    bucket = f"deploy-{uuid.uuid4().hex[:12]}"
    env = {
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": local_stack.s3_endpoint_url,
        "AWS_ACCESS_KEY_ID": local_stack.access_key,
        "AWS_SECRET_ACCESS_KEY": local_stack.secret_key,
    }
    bootstrap = manage("s3_bootstrap", **env)
    assert bootstrap.returncode == 0, bootstrap.stdout + bootstrap.stderr
    yield env
    client = local_stack.s3_client()
    for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)


def test_check_deploy_is_clean_with_production_settings(production_s3):
    result = manage("check", "--deploy", "--fail-level", "WARNING", **production_s3)
    assert result.returncode == 0, result.stdout + result.stderr
    # The one silenced: W021, "you could preload", while SECURE_HSTS_PRELOAD is off.
    assert result.stdout.strip() == "System check identified no issues (1 silenced)."


def test_check_deploy_fails_on_a_warning(production_s3):
    """The test above can fail: one weakened header is reported and fails the run."""
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", SECURE_HSTS_SECONDS="0", **production_s3
    )
    assert result.returncode != 0
    assert "security.W004" in result.stderr  # SECURE_HSTS_SECONDS is not set


def test_check_deploy_names_a_plain_http_provider(production_s3):
    result = manage("check", "--deploy", OIDC_ISSUER="http://dev-1.okta.com", **production_s3)
    assert result.returncode != 0
    assert 'accounts.E005) OIDC_ISSUER: "http://dev-1.okta.com" — http:// is only' in result.stderr


PRINT_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({name: getattr(s, name) for name in (
    "SECURE_SSL_REDIRECT", "SECURE_REDIRECT_EXEMPT", "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE", "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_SAMESITE", "X_FRAME_OPTIONS", "SECURE_REFERRER_POLICY",
    "SECURE_CROSS_ORIGIN_OPENER_POLICY", "SILENCED_SYSTEM_CHECKS")}))
"""


def production_settings(**overrides) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    env.update(PRODUCTION_ENV, DJANGO_SETTINGS_MODULE="config.settings", **overrides)
    result = subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_defaults():
    assert production_settings() == {
        "SECURE_SSL_REDIRECT": True,
        "SECURE_REDIRECT_EXEMPT": [r"^healthz/?$", r"^readyz/?$"],
        "SECURE_HSTS_SECONDS": 365 * 24 * 3600,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": False,
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "CSRF_COOKIE_SECURE": True,
        "CSRF_COOKIE_SAMESITE": "Lax",
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_REFERRER_POLICY": "same-origin",
        "SECURE_CROSS_ORIGIN_OPENER_POLICY": "same-origin",
        # Only the "you could preload" hint, because preloading is off.
        "SILENCED_SYSTEM_CHECKS": ["security.W021"],
    }


def test_hsts_and_the_redirect_follow_their_variables():
    found = production_settings(
        SECURE_HSTS_SECONDS="600", SECURE_HSTS_PRELOAD="1", SECURE_SSL_REDIRECT="0"
    )
    assert found["SECURE_HSTS_SECONDS"] == 600
    assert found["SECURE_HSTS_PRELOAD"] is True
    assert found["SILENCED_SYSTEM_CHECKS"] == []
    assert found["SECURE_SSL_REDIRECT"] is False


# -- the redirect and the headers, in this process with the production values -----------------

PRODUCTION_HEADERS = {
    "DEBUG": False,
    "SECURE_SSL_REDIRECT": True,
    "SECURE_HSTS_SECONDS": 365 * 24 * 3600,
}


@pytest.mark.django_db
@override_settings(**PRODUCTION_HEADERS)
def test_plain_http_is_redirected_to_https_for_good(client):
    response = client.get("/orders/?status=new")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/orders/?status=new"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/healthz/", "/readyz/"])
@override_settings(**PRODUCTION_HEADERS)
def test_health_probes_are_not_redirected(client, path):
    # The endpoints may not exist on this branch: whatever they answer, it is no redirect.
    assert client.get(path).status_code != 301


@pytest.mark.django_db
@override_settings(**PRODUCTION_HEADERS)
def test_a_path_that_only_starts_like_a_probe_is_redirected(client):
    assert client.get("/healthz-and-more").status_code == 301


@pytest.mark.django_db
@override_settings(**PRODUCTION_HEADERS)
def test_https_answers_carry_the_security_headers(client, settings):
    response = client.get("/", secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Content-Security-Policy"] == build_policy(settings.SECURE_CSP)


@pytest.mark.django_db
@override_settings(**PRODUCTION_HEADERS, SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True)
def test_the_session_and_csrf_cookies_are_secure(client, alice):
    """The cookies a sign-in start sets (its state lives in the session) and a form's."""
    client.get("/oidc/authenticate/", secure=True)
    session = client.cookies["sessionid"]
    assert (session["secure"], session["httponly"], session["samesite"]) == (True, True, "Lax")
    client.force_login(alice)
    assert client.get("/oidc/logout/", secure=True).status_code == 200  # the sign-out form
    csrf = client.cookies["csrftoken"]
    assert (csrf["secure"], csrf["samesite"]) == (True, "Lax")


# -- http:// only on loopback ----------------------------------------------------------------

PROVIDER_VARIABLES = [
    "OIDC_ISSUER",
    "OIDC_OP_AUTHORIZATION_ENDPOINT",
    "OIDC_OP_TOKEN_ENDPOINT",
    "OIDC_OP_USER_ENDPOINT",
    "OIDC_OP_JWKS_ENDPOINT",
    "OIDC_OP_LOGOUT_ENDPOINT",
]
LOOPBACK = [
    "http://127.0.0.1:9400",
    "http://127.8.9.10/realms/x",
    "http://[::1]:8333",
    "http://localhost:8333",
    "http://LOCALHOST",
]
NOT_LOOPBACK = [
    "http://dev-1.okta.com/oauth2/default",
    "http://10.0.0.5:8333",
    "http://[::2]:8333",
    "http://localhost.example.com",
    "http://128.0.0.1",
    "http://keycloak:8080",
]


def storage_errors(**values):
    with override_settings(DEBUG=False, **values):
        return check_storage_uses_https()


def provider_errors(**values):
    with override_settings(DEBUG=False, **values):
        return check_provider_uses_https()


@pytest.mark.parametrize("variable", PROVIDER_VARIABLES)
@pytest.mark.parametrize("url", NOT_LOOPBACK)
def test_a_plain_http_provider_url_is_refused_naming_it(variable, url):
    [error] = provider_errors(**{variable: url})
    assert error.id == "accounts.E005"
    assert error.msg == (
        f'{variable}: "{url}" — http:// is only for a server on this machine '
        "(127.0.0.1, ::1, localhost): use https://"
    )


@pytest.mark.parametrize("variable", ["S3_ENDPOINT_URL", "SITE_ORIGIN"])
@pytest.mark.parametrize("url", NOT_LOOPBACK)
def test_a_plain_http_storage_url_or_site_origin_is_refused_naming_it(variable, url):
    [error] = storage_errors(**{variable: url})
    assert error.id == "uploads.E005"
    assert error.msg.startswith(f'{variable}: "{url}" — http:// is only for a server on')


@pytest.mark.parametrize("url", [*LOOPBACK, "https://dev-1.okta.com", "https://10.0.0.5"])
def test_loopback_and_https_urls_pass(url):
    assert provider_errors(**dict.fromkeys(PROVIDER_VARIABLES, url)) == []
    assert storage_errors(S3_ENDPOINT_URL=url, SITE_ORIGIN=url) == []


def test_with_debug_on_plain_http_is_fine():
    with override_settings(DEBUG=True, OIDC_ISSUER=NOT_LOOPBACK[0], SITE_ORIGIN=NOT_LOOPBACK[1]):
        assert check_provider_uses_https() == []
        assert check_storage_uses_https() == []


def test_no_endpoint_means_aws_which_is_https():
    assert storage_errors(S3_ENDPOINT_URL=None, SITE_ORIGIN=SITE) == []


def test_a_malformed_url_is_left_to_the_url_check():
    # One complaint per bad value: the shape check (accounts.E004) names it already.
    assert provider_errors(OIDC_ISSUER="http://127.0.0.1:port") == []


# -- the policies ----------------------------------------------------------------------------


def policies(**overrides):
    values = {
        "bucket": "portal-media",
        "s3_endpoint_url": None,
        "region": "eu-central-1",
        "oidc_issuer": "https://dev-1.okta.com/oauth2/default",
        "oidc_logout_endpoint": "",
        **overrides,
    }
    portal, share = content_security_policies(**values)
    return build_policy(portal), build_policy(share)


def test_the_portal_policy_on_aws():
    portal, _ = policies()
    s3 = "https://portal-media.s3.amazonaws.com https://portal-media.s3.eu-central-1.amazonaws.com"
    assert portal == (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' {s3}; connect-src 'self' {s3}; "
        "form-action 'self' https://dev-1.okta.com; frame-ancestors 'none'; "
        "base-uri 'none'; object-src 'none'"
    )
    assert "unsafe" not in portal


def test_the_share_page_policy_allows_only_its_image_and_style():
    _, share = policies(s3_endpoint_url="https://s3.example.com:9000", oidc_issuer=SITE)
    assert share == (
        "default-src 'none'; img-src 'self' https://s3.example.com:9000; style-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


def test_a_logout_endpoint_elsewhere_is_a_form_action_too():
    portal, _ = policies(oidc_logout_endpoint="https://Login.Example.com/logout?x=1")
    assert "form-action 'self' https://dev-1.okta.com https://login.example.com;" in portal


def test_a_nonce_appears_only_when_a_page_used_it():
    portal, _ = content_security_policies(
        bucket="b", s3_endpoint_url=None, region="us-east-1", oidc_issuer=SITE,
        oidc_logout_endpoint="",
    )  # fmt: skip
    assert "nonce" not in build_policy(portal, nonce=None)
    assert "script-src 'self' 'nonce-abc';" in build_policy(portal, nonce="abc")


def browser_origins_of(*, bucket, endpoint_url, region) -> set[str]:
    """The origins of the URLs our code really hands browsers: django-storages' presigned GET
    (images) and boto3's presigned POST (direct uploads), as configured in settings."""
    storage = S3Storage(
        **s3_storage_options(
            bucket=bucket,
            endpoint_url=endpoint_url,
            region=region,
            access_key="a",
            secret_key="b",
        )
    )
    options = {"endpoint_url": endpoint_url} if endpoint_url else {}
    client = boto3.client(
        "s3",
        region_name=region,
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(signature_version="s3v4", request_checksum_calculation="when_required"),
        **options,
    )
    urls = [storage.url("users/1/x.jpg"), client.generate_presigned_post(bucket, "k")["url"]]
    return {f"{part.scheme}://{part.netloc}" for part in map(urlsplit, urls)}


@pytest.mark.parametrize("region", ["us-east-1", "eu-central-1"])
@pytest.mark.parametrize("bucket", ["portal-media", "my.dotted.bucket"])
@pytest.mark.parametrize("endpoint_url", [None, "http://127.0.0.1:8333", "https://s3.example.com"])
def test_the_s3_origins_are_those_of_the_urls_we_hand_out(region, bucket, endpoint_url):
    found = set(s3_browser_origins(bucket=bucket, endpoint_url=endpoint_url, region=region))
    handed_out = browser_origins_of(bucket=bucket, endpoint_url=endpoint_url, region=region)
    assert handed_out <= found
    # Only AWS's regional address of a new bucket comes on top (its global one redirects there).
    assert found - handed_out <= {f"https://{bucket}.s3.{region}.amazonaws.com"}


def test_a_jinja2_page_gets_the_nonce_its_header_allows(rf):
    """The csp context processor works for the portal's Jinja2 pages: a template that needs an
    inline script writes {{ csp_nonce }}, and only then does the header carry that nonce."""
    from django.contrib.auth.models import AnonymousUser
    from django.http import HttpResponse
    from django.middleware.csp import ContentSecurityPolicyMiddleware
    from django.template import engines

    def page(source):
        def view(request):
            return HttpResponse(engines["jinja2"].from_string(source).render(request=request))

        request = rf.get("/")
        request.user = AnonymousUser()
        return ContentSecurityPolicyMiddleware(view)(request)

    response = page('<script nonce="{{ csp_nonce }}">1</script>')
    nonce = response.content.decode().split('"')[1]
    assert len(nonce) >= 16
    assert f"script-src 'self' 'nonce-{nonce}';" in response["Content-Security-Policy"]
    assert "nonce" not in page("<p>no script</p>")["Content-Security-Policy"]
