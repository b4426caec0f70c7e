"""Names and emails come from the sign-in provider, so from anyone: every page escapes them."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.html import escape as django_escape
from markupsafe import escape as jinja_escape

from accounts.roles import USER
from accounts.services import user_set_roles, user_upsert_from_claims

pytestmark = pytest.mark.django_db

NAME = "<script>alert(1)</script>"
EMAIL = '"><img src=x onerror=alert(1)>'


@pytest.fixture
def mallory(settings):
    user = user_upsert_from_claims(
        issuer=settings.OIDC_ISSUER, claims={"sub": "mallory", "given_name": NAME, "email": EMAIL}
    )
    user_set_roles(user=user, roles={USER})
    assert user.display_name == NAME
    return user


def assert_escaped(html: str, payload: str, escape) -> None:
    assert payload not in html
    assert str(escape(payload)) in html


def test_the_order_list_escapes_the_owner_name_and_email(client, admin_user, mallory, place_order):
    order = place_order(mallory)
    client.force_login(admin_user)

    html = client.get(reverse("order_list")).content.decode()

    assert order.number in html
    assert_escaped(html, NAME, jinja_escape)
    assert_escaped(html, EMAIL, jinja_escape)
    assert "<img" not in html
    assert "<script" not in html


def test_the_order_page_escapes_the_owner_name_and_email(client, admin_user, mallory, place_order):
    order = place_order(mallory)
    client.force_login(admin_user)

    html = client.get(reverse("order_detail", args=[order.number])).content.decode()

    assert_escaped(html, NAME, jinja_escape)  # the owner, and the history's "by ..."
    assert_escaped(html, EMAIL, jinja_escape)
    assert "<img" not in html
    assert "<script" not in html


def test_pages_escape_the_signed_in_persons_own_name(client, mallory, place_order):
    order = place_order(mallory)
    client.force_login(mallory)

    for path in (reverse("order_list"), reverse("order_detail", args=[order.number])):
        html = client.get(path).content.decode()
        assert_escaped(html, NAME, jinja_escape)  # the header, and the history's "by ..."
        assert "<script" not in html


def test_the_admin_site_escapes_the_owner_name_and_email(client, admin_user, mallory, place_order):
    order = place_order(mallory)
    client.force_login(admin_user)

    change_list = client.get(reverse("admin:orders_order_changelist")).content.decode()
    change_page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content
    people = client.get(reverse("admin:accounts_user_changelist")).content.decode()

    assert order.number in change_list
    assert_escaped(change_list, NAME, django_escape)
    assert_escaped(change_page.decode(), NAME, django_escape)
    assert_escaped(people, EMAIL, django_escape)
    for html in (change_list, change_page.decode(), people):
        assert "<img src=x" not in html
        assert "<script>alert" not in html
