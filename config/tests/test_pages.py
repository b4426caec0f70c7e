import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_home_page_invites_anonymous_visitors_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b'href="/oidc/authenticate/"' in response.content
    assert b"Sign in" in response.content


def test_header_shows_signed_in_user_roles_and_sign_out(client, alice):
    client.force_login(alice)
    html = client.get("/").content.decode()
    assert "Alice" in html
    assert '<span class="role-badge">USER</span>' in html
    assert '<a class="button button-secondary" href="/oidc/logout/">Sign out</a>' in html
    assert "Admin site" not in html  # only ADMIN sees the link


def test_sign_out_link_leads_to_a_confirmation_that_posts(client, alice):
    """Signing out ends the company sign-in too, so the header's link asks first."""
    client.force_login(alice)
    html = client.get("/oidc/logout/").content.decode()
    assert "signs you out of the portal and of your company sign-in" in html
    assert '<form method="post" action="/oidc/logout/">' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert client.get("/").wsgi_request.user.is_authenticated  # looking did not sign out


def test_unknown_page_gets_friendly_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"We can't find that page" in response.content


def test_forbidden_page_names_whom_to_ask(client, alice, settings):
    settings.ROOT_URLCONF = "config.tests.urls"
    settings.SUPPORT_CONTACT = "the help desk at help@example.com"
    client.force_login(alice)
    response = client.get("/forbidden/")
    assert response.status_code == 403
    assert b"You don't have access to this page" in response.content
    assert b"the help desk at help@example.com" in response.content


def test_server_error_page_is_friendly_and_standalone(settings):
    settings.ROOT_URLCONF = "config.tests.urls"
    client = Client(raise_request_exception=False)
    response = client.get("/boom/")
    assert response.status_code == 500
    assert b"Something went wrong on our side" in response.content
    assert b"deliberate failure" not in response.content


def test_csrf_failure_explains_and_changes_nothing():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/", {"anything": "1"})
    assert response.status_code == 403
    assert b"This form has expired" in response.content
    assert b"Nothing was changed" in response.content
