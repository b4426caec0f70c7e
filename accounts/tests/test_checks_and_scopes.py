"""Parsed sign-in settings are checked at start-up; the scopes follow what the provider offers."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from accounts.tests.oidc_test_provider import DROP

# Django's model checks ask SQLite whether it supports JSONField (the audit trail's details).
pytestmark = pytest.mark.django_db


def check_output(settings, **overrides) -> str:
    """The system check's complaint with these settings ("" when it passes)."""
    for name, value in overrides.items():
        setattr(settings, name, value)
    try:
        call_command("check")
    except SystemCheckError as error:
        return str(error)
    return ""


def test_the_shipped_settings_pass(settings):
    assert check_output(settings) == ""


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"OIDC_ROLE_MAP": "portal-admins=ADMN"},
            'OIDC_ROLE_MAP: "portal-admins=ADMN" — unknown role ADMN (expected USER or ADMIN)',
        ),
        (
            {"OIDC_ROLE_MAP": "portal-users=USER,portal-admins"},
            'OIDC_ROLE_MAP: "portal-admins" — expected provider-group=ROLE',
        ),
        ({"OIDC_SIGN_ALGS": ["RS256", "HS256"]}, 'OIDC_SIGN_ALGS: "HS256" — never accepted'),
        ({"OIDC_SIGN_ALGS": ["none"]}, 'OIDC_SIGN_ALGS: "none" — never accepted'),
        ({"OIDC_SIGN_ALGS": ["RS265"]}, 'OIDC_SIGN_ALGS: "RS265" — unknown'),
        ({"OIDC_SIGN_ALGS": []}, "OIDC_SIGN_ALGS: empty"),
        ({"OIDC_ROLES_CLAIM": ""}, 'OIDC_ROLES_CLAIM: "" — a claim name or dotted path'),
        ({"OIDC_ROLES_CLAIM": "cognito groups"}, 'OIDC_ROLES_CLAIM: "cognito groups"'),
        ({"OIDC_ISSUER": "dev-1.okta.com/oauth2/default"}, 'OIDC_ISSUER: "dev-1.okta.com/'),
        ({"OIDC_OP_TOKEN_ENDPOINT": "ftp://x/token"}, 'OIDC_OP_TOKEN_ENDPOINT: "ftp://x/token"'),
        ({"S3_ENDPOINT_URL": "http://127.0.0.1:s3"}, 'S3_ENDPOINT_URL: "http://127.0.0.1:s3"'),
    ],
)
def test_a_bad_value_stops_check_naming_the_variable_and_the_bad_part(settings, overrides, message):
    assert message in check_output(settings, **overrides)


@pytest.mark.parametrize(
    "url", ["https://dev-1.okta.com/oauth2/default", "https://keycloak:8443/realms/x"]
)
def test_urls_with_any_host_name_pass(settings, url):
    assert check_output(settings, OIDC_ISSUER=url, S3_ENDPOINT_URL=url) == ""


def test_a_bad_role_map_stops_the_real_manage_py_check():
    from config.tests.test_settings import run_check

    result = run_check(OIDC_ROLE_MAP="portal-admins=ADMN")
    assert result.returncode != 0
    assert 'OIDC_ROLE_MAP: "portal-admins=ADMN" — unknown role ADMN' in result.stderr


# -- scopes ----------------------------------------------------------------------------------


def requested_scope(client) -> str:
    response = client.get("/oidc/authenticate/")
    assert response.status_code == 302
    return parse_qs(urlsplit(response["Location"]).query)["scope"][0]


@pytest.mark.django_db
@pytest.mark.usefixtures("op_settings")
def test_groups_scope_is_asked_for_when_the_provider_offers_it(client, settings):
    settings.OIDC_RP_SCOPES = ""
    assert requested_scope(client) == "openid profile email groups"


@pytest.mark.django_db
@pytest.mark.usefixtures("op_settings")
@pytest.mark.parametrize("supported", [["openid", "profile", "email"], DROP])
def test_no_groups_scope_when_the_provider_does_not_list_it(client, op, settings, supported):
    settings.OIDC_RP_SCOPES = ""
    op.discovery_overrides = {"scopes_supported": supported}
    assert requested_scope(client) == "openid profile email"


@pytest.mark.django_db
@pytest.mark.usefixtures("op_settings")
def test_explicit_scopes_always_win(client, settings):
    settings.OIDC_RP_SCOPES = "openid email"
    assert requested_scope(client) == "openid email"
