"""The one user factory, and the demo people as fixtures for every app's tests.

The demo people are the local provider's users (devstack/users.json), with the same claims
and the roles their groups give, so `bob` is a USER here as in `make run`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings

from accounts.roles import roles_for_groups
from accounts.services import user_set_roles, user_upsert_from_claims

DEMO_USERS_FILE = Path(__file__).resolve().parents[2] / "devstack" / "users.json"
DEMO_CLAIMS = {claims["sub"]: claims for claims in json.loads(DEMO_USERS_FILE.read_text())}


def make_user(sub: str, *roles: str, issuer: str | None = None, **claims):
    """A person signed in through the provider, with exactly these portal roles.

    A demo user's sub brings their claims, and their roles when none are given; any other
    sub gets an email made from it. Extra keyword arguments are claims.
    """
    demo = DEMO_CLAIMS.get(sub, {})
    user = user_upsert_from_claims(
        issuer=issuer or settings.OIDC_ISSUER,
        claims={"email": f"{sub}@example.com", **demo, **claims, "sub": sub},
    )
    if not roles and demo:
        roles = tuple(roles_for_groups(demo.get("groups", [])))
    user_set_roles(user=user, roles=set(roles))
    return user


def _demo_person(sub: str):
    """A fixture for one demo user, created in the test's database."""

    @pytest.fixture
    def person(db):
        return make_user(sub)

    return person


alice = _demo_person("alice")
bob = _demo_person("bob")
admin_user = _demo_person("admin")
nobody = _demo_person("nobody")
