"""Create the local provider's demo users here, so the admin site and seeds can refer to them."""

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.roles import groups_in_claims, roles_for_groups
from accounts.services import user_set_roles, user_upsert_from_claims


class Command(BaseCommand):
    help = "Create or refresh users from a JSON list of OpenID claims (the local demo users)."

    def add_arguments(self, parser):
        parser.add_argument("users_file", type=Path)

    def handle(self, *args, users_file: Path, **options):
        claims_list = json.loads(users_file.read_text())
        for claims in claims_list:
            user = user_upsert_from_claims(issuer=settings.OIDC_ISSUER, claims=claims)
            user_set_roles(user=user, roles=roles_for_groups(groups_in_claims(claims)))
        self.stdout.write(f"Demo users ready: {', '.join(c['sub'] for c in claims_list)}")
