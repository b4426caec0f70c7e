"""Happy paths against the real local provider (oidc-provider-mock), over HTTP end to end."""

import pytest
import requests

from accounts import provider
from accounts.models import User
from accounts.roles import roles_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_provider_caches():
    provider.clear_caches()
    yield
    provider.clear_caches()


def sign_in(live_server, sub: str, *, next_path: str = "/account/") -> requests.Session:
    """Sign in as a browser would: our app -> provider's form -> our callback."""
    browser = requests.Session()
    start = browser.get(
        f"{live_server.url}/oidc/authenticate/",
        params={"next": next_path},
        allow_redirects=False,
        timeout=10,
    )
    assert start.status_code == 302
    authorize_url = start.headers["Location"]
    assert "code_challenge_method=S256" in authorize_url
    picked = browser.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=10)
    assert picked.status_code == 302, picked.text[:500]
    callback = browser.get(picked.headers["Location"], allow_redirects=False, timeout=10)
    assert callback.status_code == 302, callback.text[:2000]
    assert callback.headers["Location"] == next_path
    return browser


def set_provider_groups(local_stack, sub: str, groups: list[str]) -> None:
    claims = {"email": f"{sub}@example.com", "name": sub.title(), "groups": groups}
    response = requests.put(f"{local_stack.issuer}/users/{sub}", json=claims, timeout=5)
    assert response.status_code == 204


def test_admin_signs_in_with_both_roles(live_server, local_stack):
    browser = sign_in(live_server, "admin")
    page = browser.get(f"{live_server.url}/account/", timeout=10)
    assert page.status_code == 200
    assert "Ada Admin" in page.text
    user = User.objects.get(oidc_issuer=local_stack.issuer, oidc_subject="admin")
    assert roles_of(user) == {"ADMIN", "USER"}
    assert user.is_staff
    assert browser.get(f"{live_server.url}/admin/", timeout=10).status_code == 200


def test_alice_signs_in_as_user_and_is_kept_out_of_admin(live_server, local_stack):
    browser = sign_in(live_server, "alice")
    user = User.objects.get(oidc_issuer=local_stack.issuer, oidc_subject="alice")
    assert roles_of(user) == {"USER"}
    assert user.email == "alice@example.com"
    admin = browser.get(f"{live_server.url}/admin/", allow_redirects=False, timeout=10)
    assert admin.status_code == 403
    assert "You don't have access to this page" in admin.text


def test_nobody_signs_in_without_a_role(live_server, local_stack):
    browser = sign_in(live_server, "nobody")
    user = User.objects.get(oidc_issuer=local_stack.issuer, oidc_subject="nobody")
    assert roles_of(user) == set()
    account = browser.get(f"{live_server.url}/account/", timeout=10)
    assert account.status_code == 200  # the account page stays open without a role
    assert "No role yet" in account.text


def test_roles_follow_group_changes_at_the_provider(live_server, local_stack):
    set_provider_groups(local_stack, "carol", ["portal-users"])
    sign_in(live_server, "carol")
    user = User.objects.get(oidc_issuer=local_stack.issuer, oidc_subject="carol")
    assert roles_of(user) == {"USER"}

    set_provider_groups(local_stack, "carol", ["portal-admins"])
    sign_in(live_server, "carol")
    assert roles_of(User.objects.get(pk=user.pk)) == {"ADMIN"}

    set_provider_groups(local_stack, "carol", [])
    sign_in(live_server, "carol")
    fresh = User.objects.get(pk=user.pk)
    assert roles_of(fresh) == set()
    assert not fresh.is_staff


def test_sign_out_goes_to_the_providers_end_session(live_server, local_stack):
    browser = sign_in(live_server, "alice")
    home = browser.get(f"{live_server.url}/", timeout=10)
    csrf = browser.cookies["csrftoken"]
    assert "Sign out" in home.text
    out = browser.post(
        f"{live_server.url}/oidc/logout/",
        data={"csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{live_server.url}/"},
        allow_redirects=False,
        timeout=10,
    )
    assert out.status_code == 302
    location = out.headers["Location"]
    assert location.startswith(f"{local_stack.issuer}/oauth2/end_session?")
    assert "id_token_hint=" in location
    assert "post_logout_redirect_uri=" in location
    account = browser.get(f"{live_server.url}/account/", allow_redirects=False, timeout=10)
    assert account.status_code == 302  # signed out here: back to sign-in


def test_opaque_access_token_from_the_account_page_works_on_the_api(live_server, local_stack):
    browser = sign_in(live_server, "alice")
    token = (
        browser.get(f"{live_server.url}/account/", timeout=10)
        .text.split('id="access-token" class="token" type="text" readonly value="')[1]
        .split('"')[0]
    )
    api = requests.get(
        f"{live_server.url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert api.status_code == 200
    assert api.json()["sub"] == "alice"
    assert api.json()["roles"] == ["USER"]
