"""The admin site as an SSO ADMIN sees it, through the real pages (test client + test provider)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.services import user_set_roles, user_upsert_from_claims
from accounts.tests.test_sign_in_flow import (
    assert_signed_out,
    expire_session_check,
    query_of,
    sign_in,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("op_settings")]

ADA = {
    "name": "Ada Admin",
    "email": "ada@example.com",
    "groups": ["portal-admins", "portal-users"],
}


@pytest.fixture(autouse=True)
def _fast_password_hashes(settings):
    """These tests are about who may use a password, not about hashing it: skip the slow hash."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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


# -- an ADMIN cannot raise anyone's privileges ------------------------------------------------

BACKDOOR_PASSWORD = "backdoor-pass-phrase-1"


@pytest.fixture
def carol(op) -> User:
    """An SSO user with the USER role, as the first sign-in makes them."""
    user = user_upsert_from_claims(issuer=op.issuer, claims={"sub": "carol", "given_name": "Carol"})
    user_set_roles(user=user, roles={"USER"})
    return user


@pytest.fixture
def local_account(db) -> User:
    """An account without an SSO identity (no password), e.g. left over from before SSO."""
    return User.objects.create_user("local-account")


def change_url(user: User) -> str:
    return reverse("admin:accounts_user_change", args=[user.pk])


def password_url(user: User) -> str:
    return reverse("admin:auth_user_password_change", args=[user.pk])


def change_form(user: User, **fields) -> dict:
    """What the admin's change form sends for `user` as it is, with `fields` changed."""
    form = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
    }
    return {**form, **fields}


def escalation() -> dict:
    """Every privilege an ADMIN might try to hand out through the change form."""
    return {
        "is_superuser": "on",
        "is_staff": "on",
        "groups": [Group.objects.get(name="ADMIN").pk],
        "user_permissions": [Permission.objects.get(codename="change_group").pk],
    }


def privileges(user: User) -> tuple:
    user.refresh_from_db()
    return (
        user.is_superuser,
        user.is_staff,
        set(user.groups.values_list("name", flat=True)),
        set(user.user_permissions.values_list("codename", flat=True)),
    )


def test_the_change_form_offers_an_admin_no_privilege_or_password_fields(client, ada, carol):
    response = client.get(change_url(carol))

    assert response.status_code == 200
    form_fields = set(response.context["adminform"].form.fields)
    assert form_fields == {"username", "first_name", "last_name", "email", "is_active"}
    assert 'href="../password/"' not in response.content.decode()


@pytest.mark.parametrize("target", ["ada", "carol", "local_account"])
def test_an_admin_cannot_raise_privileges_of_themselves_or_others(client, ada, request, target):
    user = ada if target == "ada" else request.getfixturevalue(target)
    before = privileges(user)

    response = client.post(
        change_url(user), change_form(user, first_name="Renamed", **escalation())
    )

    assert response.status_code == 302  # saved: the rest of the form was fine
    assert privileges(user) == before
    assert user.first_name == "Renamed"
    assert not user.is_superuser


def test_an_admin_can_still_deactivate_an_sso_user(client, ada, carol):
    form = change_form(carol)
    del form["is_active"]

    assert client.post(change_url(carol), form).status_code == 302

    carol.refresh_from_db()
    assert not carol.is_active


@pytest.mark.parametrize("target", ["ada", "carol", "local_account"])
def test_an_admin_gets_no_password_form_for_anyone(client, ada, request, target):
    user = ada if target == "ada" else request.getfixturevalue(target)
    form = {"password1": BACKDOOR_PASSWORD, "password2": BACKDOOR_PASSWORD}

    assert client.get(password_url(user)).status_code == 403
    assert client.post(password_url(user), form).status_code == 403

    user.refresh_from_db()
    assert not user.has_usable_password()


def test_an_admin_cannot_add_a_password_user(client, ada):
    add_url = reverse("admin:accounts_user_add")
    form = {
        "username": "backdoor",
        "usable_password": "true",
        "password1": BACKDOOR_PASSWORD,
        "password2": BACKDOOR_PASSWORD,
    }

    assert client.get(add_url).status_code == 403
    assert client.post(add_url, form).status_code == 403

    assert not User.objects.filter(username="backdoor").exists()
    changelist = client.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert add_url not in changelist


def test_an_admin_can_look_at_a_superuser_but_not_change_or_delete_them(client, ada):
    root = User.objects.create_superuser("root", password="root-pass-phrase-1")
    form = change_form(root)
    del form["is_active"]

    assert client.get(change_url(root)).status_code == 200  # read-only view
    assert client.post(change_url(root), form).status_code == 403
    delete_url = reverse("admin:accounts_user_delete", args=[root.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403

    root.refresh_from_db()
    assert root.is_active


def test_due_session_cannot_change_a_user_in_the_admin(client, ada, carol):
    expire_session_check(client)
    form = change_form(carol)
    del form["is_active"]

    response = client.post(change_url(carol), form, headers={"Referer": change_url(carol)})

    assert response.status_code == 403
    assert "nothing was saved" in response.content.decode()
    carol.refresh_from_db()
    assert carol.is_active


# -- break-glass: only accounts made by createsuperuser ---------------------------------------

ROOT_PASSWORD = "root-pass-phrase-1"
BREAK_GLASS_BACKEND = "accounts.break_glass.BreakGlassModelBackend"


@pytest.fixture
def break_glass_on(settings):
    """ADMIN_BREAK_GLASS_LOGIN=1, with the backend that config/settings.py adds for it."""
    settings.ADMIN_BREAK_GLASS_LOGIN = True
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, BREAK_GLASS_BACKEND]


@pytest.fixture
def root(db, monkeypatch) -> User:
    """A superuser made on the server, the documented way."""
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", ROOT_PASSWORD)
    call_command(
        "createsuperuser",
        interactive=False,
        username="root",
        email="root@example.com",
        stdout=StringIO(),
    )
    return User.objects.get(username="root")


def password_sign_in(client, username: str, password: str):
    return client.post(
        reverse("admin:login"), {"username": username, "password": password, "next": "/admin/"}
    )


def test_a_superuser_made_by_createsuperuser_signs_in_with_break_glass(
    client, break_glass_on, root
):
    assert root.break_glass

    response = password_sign_in(client, "root", ROOT_PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    page = client.get("/admin/")
    assert page.status_code == 200
    assert reverse("admin:password_change") in page.content.decode()  # it has a password


def test_break_glass_off_refuses_even_the_createsuperuser_account(client, settings, root):
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, BREAK_GLASS_BACKEND]
    settings.ADMIN_BREAK_GLASS_LOGIN = False

    assert authenticate(username="root", password=ROOT_PASSWORD) is None
    client.force_login(root, backend=BREAK_GLASS_BACKEND)
    assert client.get("/admin/").status_code == 302  # the session no longer counts


def _superuser_by_hand(**fields) -> User:
    user = User.objects.create(username="backdoor", is_staff=True, is_superuser=True, **fields)
    user.set_password(BACKDOOR_PASSWORD)
    user.save()
    return user


PASSWORDS_GIVEN_OTHERWISE = {
    "a superuser made without createsuperuser": lambda: _superuser_by_hand(),
    "an SSO user with a password": lambda: _superuser_by_hand(
        oidc_issuer="https://a", oidc_subject="backdoor"
    ),
    "a createsuperuser account no longer superuser": lambda: User.objects.filter(
        pk=User.objects.create_superuser("backdoor", password=BACKDOOR_PASSWORD).pk
    ).update(is_superuser=False),
}


@pytest.mark.parametrize("made", PASSWORDS_GIVEN_OTHERWISE)
def test_a_password_given_any_other_way_never_signs_in(client, break_glass_on, made):
    PASSWORDS_GIVEN_OTHERWISE[made]()

    response = password_sign_in(client, "backdoor", BACKDOOR_PASSWORD)

    assert response.status_code == 200  # the login form again, with its error
    assert response.context["form"].errors
    assert "_auth_user_id" not in client.session


def test_a_password_a_superuser_sets_in_the_admin_does_not_open_break_glass(
    client, break_glass_on, root, local_account
):
    assert password_sign_in(client, "root", ROOT_PASSWORD).status_code == 302
    form = {"password1": BACKDOOR_PASSWORD, "password2": BACKDOOR_PASSWORD}
    assert client.post(password_url(local_account), form).status_code == 302
    promote = change_form(local_account, is_superuser="on", is_staff="on", break_glass="on")
    assert client.post(change_url(local_account), promote).status_code == 302
    local_account.refresh_from_db()
    assert (local_account.is_superuser, local_account.break_glass) == (True, False)

    response = password_sign_in(Client(), "local-account", BACKDOOR_PASSWORD)

    assert response.status_code == 200
    assert response.context["form"].errors


def test_a_superuser_cannot_give_an_sso_user_roles_staff_or_a_password(
    client, break_glass_on, root, carol
):
    assert password_sign_in(client, "root", ROOT_PASSWORD).status_code == 302

    assert client.get(password_url(carol)).status_code == 403
    response = client.post(change_url(carol), change_form(carol, **escalation()))

    assert response.status_code == 302
    is_superuser, is_staff, groups, permissions = privileges(carol)
    assert (is_superuser, is_staff, groups) == (True, False, {"USER"})  # superuser: their call
    assert permissions == {"change_group"}


def test_the_setting_adds_the_break_glass_backend_never_djangos_own():
    script = "from django.conf import settings; print(*settings.AUTHENTICATION_BACKENDS)"
    env = {**os.environ, "DEBUG": "1", "ADMIN_BREAK_GLASS_LOGIN": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    assert result.stdout.split() == ["accounts.backends.PortalOIDCBackend", BREAK_GLASS_BACKEND]
