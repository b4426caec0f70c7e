"""Sign-in, sign-out and role changes in the audit trail, through real sign-ins at our test
provider: one event each, with who, the reason code of a failure, and never a token."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import transaction

from accounts.models import User
from accounts.services import user_set_roles
from accounts.tests.test_sign_in_flow import (
    expire_session_check,
    finish_sign_in,
    local,
    sign_in,
    start_sign_in,
)
from audit.models import AuditEvent
from audit.tests.recorded import assert_from_request, only_event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("op_settings")]

Action = AuditEvent.Action


def no_secret_of_the_session_in(event: AuditEvent, client) -> None:
    text = str(event.details) + event.target
    for key in ("oidc_id_token", "oidc_access_token"):
        value = client.session.get(key)
        if value:
            assert value not in text


def test_a_sign_in_is_one_event_with_the_user_ip_and_request_id(client, op):
    response = sign_in(client, op, "alice")
    assert response.status_code == 302
    alice = User.objects.get(oidc_subject="alice")
    event = only_event(Action.SIGN_IN)
    assert (event.actor, event.target, event.details) == (
        alice,
        f"user {alice.pk}",
        {"silent": False},
    )
    assert event.actor_name == f"Alice Example <alice@example.com>, user {alice.pk}"
    assert_from_request(event, response)
    no_secret_of_the_session_in(event, client)


def test_the_first_sign_in_records_the_roles_it_gives(client, op):
    sign_in(client, op, "admin")
    admin = User.objects.get(oidc_subject="admin")
    event = only_event(Action.ROLES_CHANGED)
    assert (event.actor, event.target) == (admin, f"user {admin.pk}")
    assert event.details == {"from": [], "to": ["ADMIN", "USER"]}


def test_a_role_change_at_sign_in_records_old_and_new_roles_and_none_without_one(client, op):
    sign_in(client, op, "alice")
    sign_in(client, op, "alice")  # the same roles again: no change to record
    assert AuditEvent.objects.filter(action=Action.ROLES_CHANGED).count() == 1

    op.users["alice"]["groups"] = ["portal-admins"]
    expire_session_check(client)
    authorize_url = client.get("/account/")["Location"]
    response = finish_sign_in(client, op, authorize_url)
    assert response.status_code == 302
    changes = AuditEvent.objects.filter(action=Action.ROLES_CHANGED).order_by("id")
    assert [e.details for e in changes] == [
        {"from": [], "to": ["USER"]},
        {"from": ["USER"], "to": ["ADMIN"]},
    ]
    assert_from_request(changes.last(), response)
    silent = AuditEvent.objects.filter(action=Action.SIGN_IN).order_by("id").last()
    assert silent.details == {"silent": True}


def test_a_role_change_that_rolls_back_leaves_no_event(alice):
    def sign_in_that_fails_after_the_roles_were_set():
        with transaction.atomic():
            user_set_roles(user=alice, roles={"ADMIN"})
            raise RuntimeError("the sign-in fails after the roles were set")

    with pytest.raises(RuntimeError):
        sign_in_that_fails_after_the_roles_were_set()
    assert not AuditEvent.objects.filter(action=Action.ROLES_CHANGED, details__to=["ADMIN"])
    assert alice.groups.get().name == "USER"


def test_when_the_sign_in_event_cannot_be_written_nobody_is_signed_in(client, op):
    real_create = AuditEvent.objects.create

    def refuse_sign_in(**fields):
        if fields["action"] == Action.SIGN_IN:
            raise RuntimeError("disk full")
        return real_create(**fields)

    client.raise_request_exception = False
    with mock.patch.object(AuditEvent.objects, "create", side_effect=refuse_sign_in):
        response = sign_in(client, op, "alice")
    assert response.status_code == 500
    assert "_auth_user_id" not in client.session
    alice = User.objects.get(oidc_subject="alice")
    assert alice.last_login is None


@pytest.mark.parametrize(
    ("spoil", "code", "status"),
    [
        ("state", "unknown_state", 400),
        ("disabled", "provider_refused", 400),
        ("wrong-nonce", "token_rejected", 401),
        ("expired", "token_rejected", 401),
    ],
)
def test_a_failed_sign_in_records_its_reason_code_and_no_token(client, op, spoil, code, status):
    op.current_user = "alice"
    authorize_url = start_sign_in(client)
    if spoil == "disabled":
        op.disabled.add("alice")
    elif spoil != "state":
        op.tamper_next_id_token(spoil)
    callback = local(op.authorize_redirect(authorize_url))
    if spoil == "state":
        callback = callback.replace("state=", "state=x")
    response = client.get(callback)
    assert response.status_code == status
    event = only_event(Action.SIGN_IN_FAILED)
    assert event.actor is None
    assert (event.details["code"], event.details["status"]) == (code, status)
    assert event.details["reason"]
    sent = dict(part.split("=", 1) for part in callback.split("?", 1)[1].split("&"))
    for secret in (sent.get("code"), sent.get("state")):
        assert not secret or secret not in str(event.details)
    assert_from_request(event, response)
    assert not AuditEvent.objects.filter(action=Action.SIGN_IN).exists()


def test_a_session_the_provider_no_longer_vouches_for_records_its_user(client, op):
    sign_in(client, op, "alice")
    alice = User.objects.get(oidc_subject="alice")
    op.signed_out.add("alice")
    expire_session_check(client)
    response = finish_sign_in(client, op, client.get("/account/")["Location"])
    assert response.status_code == 400
    event = only_event(Action.SIGN_IN_FAILED)
    assert event.actor == alice
    assert event.details["code"] == "session_ended"


def test_provider_down_at_the_start_is_a_failure_with_its_code(client, op, settings):
    settings.OIDC_ISSUER = "http://127.0.0.1:9"  # nothing listens there
    response = client.get("/oidc/authenticate/")
    assert response.status_code == 502
    assert only_event(Action.SIGN_IN_FAILED).details["code"] == "provider_unreachable"


def test_sign_out_is_recorded_once_and_a_visitor_signing_out_records_nothing(client, op):
    sign_in(client, op, "alice")
    alice = User.objects.get(oidc_subject="alice")
    response = client.post("/oidc/logout/")
    assert response.status_code == 302
    event = only_event(Action.SIGN_OUT)
    assert (event.actor, event.target) == (alice, f"user {alice.pk}")
    assert_from_request(event, response)
    client.post("/oidc/logout/")  # no longer signed in
    assert AuditEvent.objects.filter(action=Action.SIGN_OUT).count() == 1
