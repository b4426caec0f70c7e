"""A session due for its provider re-check changes nothing: pages and admin site, every method.

Signed in through the test provider as an ADMIN, then the session is made due. A write gets the
"nothing was saved" page (403) whose link goes back to the form's page; that GET runs the silent
re-check and returns there, and the same write then goes through.
"""

from __future__ import annotations

import pytest

from accounts.models import User
from accounts.tests.test_sign_in_flow import expire_session_check, finish_sign_in, query_of, sign_in
from orders.models import Order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("op_settings")]

CHECK_PAGE = "accounts/session_check_needed.html"


@pytest.fixture
def ada(client, op) -> User:
    """An ADMIN (and USER) signed in through SSO in `client`, whose session is due for a check."""
    op.users["ada"] = {"sub": "ada", "groups": ["portal-admins", "portal-users"]}
    sign_in(client, op, "ada", next_path="/orders/")
    expire_session_check(client)
    return User.objects.get(oidc_subject="ada")


def referer(path: str) -> dict[str, str]:
    return {"Referer": f"http://testserver{path}"}


def assert_nothing_saved_page(response, *, continue_url: str) -> None:
    assert response.status_code == 403, response.content[:500]
    assert CHECK_PAGE in [template.name for template in response.templates]
    page = response.content.decode()
    assert "nothing was saved" in page
    assert f'href="{continue_url}"' in page


def run_the_check_from(client, op, continue_url: str) -> None:
    """Follow the page's link: a silent re-check at the provider, then back on that page."""
    to_provider = client.get(continue_url)
    assert to_provider.status_code == 302
    assert query_of(to_provider["Location"])["prompt"] == "none"
    back = finish_sign_in(client, op, to_provider["Location"])
    assert (back.status_code, back["Location"]) == (302, continue_url)


def test_due_session_cannot_place_an_order_until_it_is_checked(client, op, ada, catalog):
    form = {"qty-PEN-BLUE": "2"}

    refused = client.post("/orders/new/", form, headers=referer("/orders/new/"))

    assert_nothing_saved_page(refused, continue_url="/orders/new/")
    assert Order.objects.count() == 0

    run_the_check_from(client, op, "/orders/new/")
    placed = client.post("/orders/new/", form)
    assert placed.status_code == 302
    assert Order.objects.get().owner == ada


def test_due_session_cannot_change_a_status_until_it_is_checked(client, op, ada, place_order):
    order = place_order(ada)
    detail = f"/orders/{order.number}/"
    status_url = f"/orders/{order.number}/status/"  # POST only: the way back is the order page

    refused = client.post(status_url, {"status": "paid"}, headers=referer(detail))

    assert_nothing_saved_page(refused, continue_url=detail)
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert order.events.count() == 1

    run_the_check_from(client, op, detail)
    assert client.post(status_url, {"status": "paid"}).status_code == 302
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_due_session_cannot_change_an_order_in_the_admin_until_it_is_checked(
    client, op, ada, place_order
):
    order = place_order(ada)
    change_url = f"/admin/orders/order/{order.pk}/change/"
    form = {"status": "paid"}
    for prefix in ("lines", "events"):
        form.update({f"{prefix}-TOTAL_FORMS": "1", f"{prefix}-INITIAL_FORMS": "1"})
        form.update({f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"})

    refused = client.post(change_url, form, headers=referer(change_url))

    assert_nothing_saved_page(refused, continue_url=change_url)
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING

    run_the_check_from(client, op, change_url)
    assert client.post(change_url, form).status_code == 302
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


@pytest.mark.parametrize("method", ["put", "patch", "delete", "options"])
def test_every_other_method_is_refused_too(client, ada, place_order, method):
    order = place_order(ada)

    response = getattr(client, method)(f"/admin/orders/order/{order.pk}/delete/")

    assert_nothing_saved_page(response, continue_url="/")
    assert Order.objects.filter(pk=order.pk).exists()


@pytest.mark.parametrize(
    "sent_referer",
    [None, "https://evil.example/orders/new/", "//evil.example/x", "http://testserver//evil"],
)
def test_the_way_back_stays_on_this_site(client, ada, catalog, sent_referer):
    headers = {"Referer": sent_referer} if sent_referer else {}

    response = client.post("/orders/new/", {"qty-PEN-BLUE": "1"}, headers=headers)

    assert_nothing_saved_page(response, continue_url="/")
    assert Order.objects.count() == 0


def test_head_on_a_due_session_takes_the_re_check_like_get(client, op, ada):
    response = client.head("/orders/")

    assert response.status_code == 302
    assert response["Location"].startswith(op.url("/authorize?"))


def test_sign_out_still_works_on_a_due_session(client, ada):
    response = client.post("/oidc/logout/")

    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_the_api_keeps_its_json_401_for_a_due_session(client, ada, catalog):
    body = {"lines": [{"sku": "PEN-BLUE", "quantity": 1}]}

    response = client.post("/api/orders", body, content_type="application/json")

    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"
    assert Order.objects.count() == 0
