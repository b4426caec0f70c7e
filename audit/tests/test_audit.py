"""The audit trail itself: audit_record, the transaction rule, and the read-only admin."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, Permission
from django.db import transaction
from django.urls import reverse

from accounts.models import User
from audit.models import AuditEvent
from audit.services import Action, audit_record

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:audit_auditevent_changelist")


def record(**overrides) -> AuditEvent:
    fields = {"action": Action.LINK_REVOKED, "target": "share link 5", **overrides}
    return audit_record(**fields)


def test_outside_a_request_ip_and_request_id_are_empty(alice):
    event = record(actor=alice, details={"why": "a test"})
    assert (event.ip, event.request_id, event.details) == (None, "", {"why": "a test"})
    assert event.actor_name == f"{alice.display_name} <alice@example.com>, user {alice.pk}"


def test_an_unknown_action_is_refused():
    with pytest.raises(ValueError, match="unknown audit action"):
        record(action="deleted_everything")
    assert not AuditEvent.objects.exists()


def test_an_anonymous_visitor_is_no_actor():
    event = record(actor=AnonymousUser())
    assert (event.actor, event.actor_name) == (None, "")


def test_deleting_the_actor_keeps_the_event_and_who_it_was(alice):
    event = record(actor=alice)
    name = event.actor_name
    alice.delete()
    event.refresh_from_db()
    assert (event.actor, event.actor_name) == (None, name)


def test_an_event_rolls_back_with_the_transaction_and_commits_with_it(alice):
    revoked = AuditEvent.objects.filter(action=Action.LINK_REVOKED)

    def change_that_fails():
        with transaction.atomic():
            record(actor=alice)
            raise RuntimeError("the change it records failed")

    with pytest.raises(RuntimeError):
        change_that_fails()
    assert not revoked.exists()
    with transaction.atomic():
        record(actor=alice)
    assert revoked.count() == 1


def test_the_model_has_only_a_view_permission():
    codenames = set(
        Permission.objects.filter(content_type__app_label="audit").values_list(
            "codename", flat=True
        )
    )
    assert codenames == {"view_auditevent"}


# -- the admin site ---------------------------------------------------------------------------


@pytest.fixture
def event(alice):
    return record(actor=alice, details={"from": "pending", "to": "paid"})


def test_admin_has_the_view_permission_through_admin_managed_apps(admin_user, alice):
    admin_user = User.objects.get(pk=admin_user.pk)  # a fresh permission cache
    assert admin_user.has_perm("audit.view_auditevent")
    assert not User.objects.get(pk=alice.pk).has_perm("audit.view_auditevent")


def test_admin_browses_filters_and_searches_the_trail(browser_of, admin_user, alice, event):
    browser = browser_of(admin_user)
    page = browser.get(CHANGELIST)
    assert page.status_code == 200
    html = page.content.decode()
    assert "share link 5" in html
    assert f"{alice.display_name} &lt;alice@example.com&gt;" in html
    # Times name their zone (TIME_ZONE is Europe/Berlin): CET in winter, CEST in summer.
    assert " CET<" in html or " CEST<" in html
    assert "Add audit event" not in html
    for query in (
        {"action__exact": Action.LINK_REVOKED},
        {"actor__id__exact": event.actor_id},
        {"at__year": event.at.year},
        {"q": "share link 5"},
        {"q": "no-such-target"},
    ):
        answer = browser.get(CHANGELIST, query)
        assert answer.status_code == 200, query
        assert ("share link 5" in answer.content.decode()) == (query.get("q") != "no-such-target")


def test_admin_sees_an_event_read_only_and_cannot_add_change_or_delete(
    browser_of, admin_user, event
):
    browser = browser_of(admin_user)
    change_url = reverse("admin:audit_auditevent_change", args=[event.pk])
    page = browser.get(change_url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html
    assert "paid" in html
    csrf = page.cookies["csrftoken"].value
    assert browser.get(reverse("admin:audit_auditevent_add")).status_code == 403
    posted = browser.post(change_url, {"target": "nothing", "csrfmiddlewaretoken": csrf})
    assert posted.status_code == 403
    delete_url = reverse("admin:audit_auditevent_delete", args=[event.pk])
    assert browser.get(delete_url).status_code == 403
    bulk = browser.post(
        CHANGELIST,
        {"action": "delete_selected", "_selected_action": [event.pk], "csrfmiddlewaretoken": csrf},
    )
    assert bulk.status_code in (200, 302)
    event.refresh_from_db()
    assert event.target == "share link 5"


def test_not_even_a_superuser_may_add_change_or_delete(client, settings, event):
    settings.ADMIN_BREAK_GLASS_LOGIN = True  # the only way a superuser opens the admin site
    root = User.objects.create_superuser("root", password="root-pass-phrase-1")
    client.force_login(root)
    change_url = reverse("admin:audit_auditevent_change", args=[event.pk])
    assert client.get(change_url).status_code == 200
    assert client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    assert client.post(change_url, {"target": "x"}).status_code == 403
    delete = reverse("admin:audit_auditevent_delete", args=[event.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).target == "share link 5"


@pytest.mark.parametrize("who", ["alice", "nobody"])
def test_people_without_admin_get_nothing(browser_of, request, event, who):
    browser = browser_of(request.getfixturevalue(who))
    response = browser.get(CHANGELIST)
    assert response.status_code == 403
    assert "share link 5" not in response.content.decode()
