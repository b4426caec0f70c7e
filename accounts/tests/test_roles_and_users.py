from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import IntegrityError

from accounts import roles
from accounts.models import User
from accounts.roles import parse_role_map, roles_for_groups, roles_of
from accounts.services import user_set_roles, user_upsert_from_claims

USERS_FILE = Path(__file__).resolve().parents[2] / "devstack" / "users.json"


def test_role_map_parses_groups_to_roles():
    mapping = parse_role_map(" portal-admins=ADMIN, portal-users=user,ops=ADMIN ")
    assert mapping == {"portal-admins": {"ADMIN"}, "portal-users": {"USER"}, "ops": {"ADMIN"}}


@pytest.mark.parametrize("bad", ["portal-admins", "=ADMIN", "x=SUPERUSER"])
def test_role_map_rejects_unclear_entries(bad):
    with pytest.raises(ValueError, match="OIDC_ROLE_MAP"):
        parse_role_map(bad)


def test_roles_for_groups_ignores_unmapped_groups(settings):
    settings.OIDC_ROLE_MAP = "a=ADMIN,u=USER"
    assert roles_for_groups(["u", "something-else"]) == {"USER"}
    assert roles_for_groups(None) == set()


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
    user = user_upsert_from_claims(issuer="https://a", claims={"sub": "gone"})
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

    user = user_upsert_from_claims(issuer="https://a", claims={"sub": "elsewhere"})
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

    user = user_upsert_from_claims(issuer="https://a", claims={"sub": "shared"})
    backend = backends.PortalOIDCBackend()
    first, second = backend.get_user(user.pk), backend.get_user(user.pk)
    assert first is not second
    first._portal_roles = frozenset({"ADMIN"})
    assert not hasattr(second, "_portal_roles")


@pytest.mark.django_db
def test_a_copy_cached_again_before_the_save_commits_is_dropped(django_capture_on_commit_callbacks):
    """Another request may read the old row while the admin's save is still uncommitted."""
    from accounts import backends

    user = user_upsert_from_claims(issuer="https://a", claims={"sub": "racing"})
    backend = backends.PortalOIDCBackend()
    stale = backend.get_user(user.pk)
    with django_capture_on_commit_callbacks(execute=True):
        user.is_active = False
        user.save()
        # As the other request would, with the row it read before the commit:
        backends.cache.set(backends.user_cache_key(user.pk), stale)
        backends._recently_served[str(user.pk)] = (backends.time.monotonic() + 5, stale)
    assert backend.get_user(user.pk) is None
