"""The admin site as an SSO ADMIN sees it, through the real pages (test client + test provider)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.urls import reverse

from accounts.models import User
from accounts.tests.test_sign_in_flow import assert_signed_out, query_of, sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("op_settings")]

ADA = {
    "name": "Ada Admin",
    "email": "ada@example.com",
    "groups": ["portal-admins", "portal-users"],
}


@pytest.fixture
def ada(client, op) -> User:
    """An ADMIN signed in through SSO in `client`."""
    op.users["ada"] = {"sub": "ada", **ADA}
    sign_in(client, op, "ada", next_path="/admin/")
    return User.objects.get(oidc_subject="ada")


# -- no password for SSO users ---------------------------------------------------------------


def test_users_signed_in_through_sso_have_no_usable_password(ada):
    assert not ada.has_usable_password()
    assert ada.password.startswith("!")  # Django's mark for "no password", never ""


def test_users_first_seen_through_an_api_token_have_no_usable_password(client, op):
    op.users["carol"] = {"sub": "carol", "groups": ["portal-users"]}
    token = op.issue_access_token("carol")

    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    assert not User.objects.get(oidc_subject="carol").has_usable_password()


def test_migration_takes_the_password_of_existing_sso_users_only():
    migration = importlib.import_module("accounts.migrations.0003_sso_users_unusable_password")
    created_empty = User.objects.create(username="old", oidc_issuer="https://a", oidc_subject="1")
    given_one = User.objects.create(username="given", oidc_issuer="https://a", oidc_subject="2")
    given_one.set_password("a password someone set in the admin")
    given_one.save()
    local = User.objects.create(username="local")
    local.set_password("correct horse battery staple")
    local.save()
    assert created_empty.has_usable_password()  # "" counts as usable: the bug

    migration.sso_users_get_unusable_passwords(apps, schema_editor=None)

    for sso_user in (created_empty, given_one):
        sso_user.refresh_from_db()
        assert not sso_user.has_usable_password()
    local.refresh_from_db()
    assert local.check_password("correct horse battery staple")


# -- the header: no "Change password", "Log out" is the portal's sign-out page ----------------


def test_admin_header_has_no_change_password_for_an_sso_admin(client, ada):
    response = client.get("/admin/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Change password" not in page
    assert reverse("admin:password_change") not in page


def test_admin_password_change_page_is_refused_to_an_sso_admin(client, ada):
    url = reverse("admin:password_change")
    new = "N3w-pass-phrase"
    form = {"old_password": "", "new_password1": new, "new_password2": new}

    assert client.get(url).status_code == 403
    assert client.post(url, form).status_code == 403

    ada.refresh_from_db()
    assert not ada.has_usable_password()


def test_admin_log_out_is_the_portal_sign_out_page_and_ends_the_provider_session(client, op, ada):
    page = client.get("/admin/").content.decode()
    sign_out_url = reverse("oidc_logout")
    assert f'<a href="{sign_out_url}">Log out</a>' in page
    assert reverse("admin:logout") not in page  # no form posting to the admin's own logout
    id_token = client.session["oidc_id_token"]

    confirm = client.get(sign_out_url)
    assert confirm.status_code == 200
    assert f'action="{sign_out_url}"' in confirm.content.decode()

    response = client.post(sign_out_url)

    assert response.status_code == 302
    assert response["Location"].startswith(op.url("/logout?"))
    assert query_of(response["Location"])["id_token_hint"] == id_token
    assert_signed_out(client)


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_admins_own_logout_address_leads_to_the_sign_out_page(client, ada, method):
    response = getattr(client, method)(reverse("admin:logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("oidc_logout")
    assert client.session.get("_auth_user_id") == str(ada.pk)  # asked to confirm first
