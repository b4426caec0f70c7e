import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import IntegrityError

from accounts import roles
from accounts.models import User
from accounts.roles import (
    claim_at_path,
    groups_in_claims,
    parse_role_map,
    remember_roles,
    roles_for_groups,
    roles_of,
)
from accounts.services import user_set_roles, user_upsert_from_claims
from accounts.tests.people import make_user

USERS_FILE = Path(__file__).resolve().parents[2] / "devstack" / "users.json"


def test_role_map_parses_groups_to_roles():
    mapping = parse_role_map(" portal-admins=ADMIN, portal-users=user,ops=ADMIN ")
    assert mapping == {"portal-admins": {"ADMIN"}, "portal-users": {"USER"}, "ops": {"ADMIN"}}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("portal-admins", 'portal-admins" — expected provider-group=ROLE'),
        ("=ADMIN", '"=ADMIN" — expected provider-group=ROLE'),
        ("portal-admins=ADMN", '"portal-admins=ADMN" — unknown role ADMN (expected USER or ADMIN)'),
    ],
)
def test_role_map_names_the_bad_entry(bad, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_role_map(bad)


def test_claim_at_path():
    claims = {
        "groups": ["portal-users"],
        "cognito:groups": ["portal-admins"],
        "realm_access": {"roles": ["offline_access", "portal-users"]},
        "a.b": "literal wins",
        "a": {"b": "nested"},
    }
    assert claim_at_path(claims, "groups") == ["portal-users"]
    assert claim_at_path(claims, "cognito:groups") == ["portal-admins"]
    assert claim_at_path(claims, "realm_access.roles") == ["offline_access", "portal-users"]
    assert claim_at_path(claims, "a.b") == "literal wins"
    assert claim_at_path(claims, "realm_access.missing") is None
    assert claim_at_path(claims, "groups.x") is None
    assert claim_at_path(claims, "absent") is None


@pytest.mark.parametrize(
    ("claim_sets", "groups"),
    [
        (({"groups": ["a", "b"]},), ["a", "b"]),
        (({"groups": "a"},), ["a"]),  # one group as a plain string
        (({"groups": ["a", {"x": 1}, None, 7]},), ["a", "7"]),  # odd items dropped
        (({"groups": {"a": True}},), []),  # not a list: no groups
        (({}, {"groups": ["from-userinfo"]}), ["from-userinfo"]),  # id_token lacks it
        (({"groups": []}, {"groups": ["ignored"]}), []),  # the first set that has it wins
    ],
)
def test_groups_in_claims_reads_the_configured_claim(settings, claim_sets, groups):
    settings.OIDC_ROLES_CLAIM = "groups"
    assert groups_in_claims(*claim_sets) == groups


def test_groups_in_claims_follows_a_dotted_roles_claim(settings):
    settings.OIDC_ROLES_CLAIM = "realm_access.roles"
    claims = {"groups": ["not-this"], "realm_access": {"roles": ["portal-users"]}}
    assert groups_in_claims(claims) == ["portal-users"]


def test_roles_for_groups_ignores_unmapped_groups(settings):
    settings.OIDC_ROLE_MAP = "a=ADMIN,u=USER"
    assert roles_for_groups(["u", "something-else"]) == {"USER"}
    assert roles_for_groups(None) == set()


@pytest.mark.django_db
def test_remembered_roles_are_what_the_request_sees_without_a_query(
    django_assert_num_queries,
):
    user = make_user("r", roles.USER)
    fresh = User.objects.get(pk=user.pk)
    remember_roles(fresh, {roles.ADMIN})  # e.g. a Bearer token's roles for this request
    with django_assert_num_queries(0):
        assert roles_of(fresh) == {"ADMIN"}
    unremembered = User.objects.get(pk=user.pk)
    with django_assert_num_queries(1):  # read once from the database, then remembered
        assert roles_of(unremembered) == {"USER"}
        assert roles_of(unremembered) == {"USER"}


@pytest.mark.django_db
def test_users_are_keyed_by_issuer_and_subject_not_email():
    first = user_upsert_from_claims(issuer="https://a", claims={"sub": "1", "email": "x@e.com"})
    again = user_upsert_from_claims(issuer="https://a", claims={"sub": "1", "email": "new@e.com"})
    other = user_upsert_from_claims(issuer="https://b", claims={"sub": "1", "email": "new@e.com"})
    assert again.pk == first.pk
    assert again.email == "new@e.com"
    assert other.pk != first.pk


@pytest.mark.django_db
def test_identity_is_unique_in_the_database():
    User.objects.create(username="one", oidc_issuer="https://a", oidc_subject="1")
    with pytest.raises(IntegrityError):
        User.objects.create(username="two", oidc_issuer="https://a", oidc_subject="1")


@pytest.mark.django_db
def test_roles_follow_the_latest_sync():
    user = user_upsert_from_claims(issuer="https://a", claims={"sub": "9"})
    user_set_roles(user=user, roles={roles.ADMIN, roles.USER})
    assert roles_of(User.objects.get(pk=user.pk)) == {"ADMIN", "USER"}
    assert User.objects.get(pk=user.pk).is_staff
    user_set_roles(user=user, roles={roles.USER})
    fresh = User.objects.get(pk=user.pk)
    assert roles_of(fresh) == {"USER"}
    assert not fresh.is_staff


@pytest.mark.django_db
def test_seed_demo_users_creates_every_role(settings):
    call_command("seed_demo_users", str(USERS_FILE))
    call_command("seed_demo_users", str(USERS_FILE))  # running twice is safe
    by_sub = {u.oidc_subject: u for u in User.objects.filter(oidc_issuer=settings.OIDC_ISSUER)}
    assert set(by_sub) == {"admin", "alice", "bob", "nobody"}
    assert roles_of(by_sub["admin"]) == {"ADMIN", "USER"}
    assert roles_of(by_sub["alice"]) == {"USER"}
    assert roles_of(by_sub["nobody"]) == set()


@pytest.mark.django_db
def test_a_deactivated_user_loses_their_session_at_once(client):
    user = make_user("gone")
    client.force_login(user, backend="accounts.backends.PortalOIDCBackend")
    assert client.get("/account/").status_code == 200  # also puts the user in the cache
    user.is_active = False
    user.save()  # drops the cached copy
    response = client.get("/account/")
    assert response.status_code == 302
    assert response["Location"].startswith("/oidc/authenticate/")


@pytest.mark.django_db
def test_pages_see_changes_to_the_user_at_once(client):
    user = user_upsert_from_claims(issuer="https://a", claims={"sub": "x", "given_name": "Old"})
    client.force_login(user, backend="accounts.backends.PortalOIDCBackend")
    assert "Old" in client.get("/account/").content.decode()
    user_upsert_from_claims(issuer="https://a", claims={"sub": "x", "given_name": "New"})
    assert "New" in client.get("/account/").content.decode()


@pytest.mark.django_db
def test_other_processes_refuse_a_deactivated_user_within_seconds(monkeypatch):
    """Another process doesn't hear of the save; its short-lived copy runs out instead."""
    from accounts import backends

    user = make_user("elsewhere")
    backend = backends.PortalOIDCBackend()
    assert backend.get_user(user.pk) is not None
    # As another process would see it: saved without this process's signal handler running.
    User.objects.filter(pk=user.pk).update(is_active=False)
    backends.cache.delete(backends.user_cache_key(user.pk))
    assert backend.get_user(user.pk) is not None  # still this process's copy
    later = backends.time.monotonic() + backends.USER_PROCESS_CACHE_SECONDS + 0.1
    monkeypatch.setattr(backends.time, "monotonic", lambda: later)
    assert backend.get_user(user.pk) is None


@pytest.mark.django_db
def test_each_request_gets_its_own_user_object():
    from accounts import backends

    user = make_user("shared")
    backend = backends.PortalOIDCBackend()
    first, second = backend.get_user(user.pk), backend.get_user(user.pk)
    assert first is not second
    remember_roles(first, {"ADMIN"})
    remember_roles(second, {"USER"})
    assert roles_of(first) == {"ADMIN"}


@pytest.mark.django_db
def test_a_copy_cached_again_before_the_save_commits_is_dropped(django_capture_on_commit_callbacks):
    """Another request may read the old row while the admin's save is still uncommitted."""
    from accounts import backends

    user = make_user("racing")
    backend = backends.PortalOIDCBackend()
    stale = backend.get_user(user.pk)
    with django_capture_on_commit_callbacks(execute=True):
        user.is_active = False
        user.save()
        # As the other request would, with the row it read before the commit:
        backends.cache.set(backends.user_cache_key(user.pk), stale)
        backends._recently_served[str(user.pk)] = (backends.time.monotonic() + 5, stale)
    assert backend.get_user(user.pk) is None
