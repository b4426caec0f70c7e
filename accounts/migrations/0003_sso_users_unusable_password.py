from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX, make_password
from django.db import migrations


def sso_users_get_unusable_passwords(apps, schema_editor):
    """SSO users were created with password "", which Django counts as usable."""
    User = apps.get_model("accounts", "User")
    sso_users = User.objects.exclude(oidc_subject="").exclude(
        password__startswith=UNUSABLE_PASSWORD_PREFIX
    )
    sso_users.update(password=make_password(None))


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_role_groups")]

    operations = [
        migrations.RunPython(sso_users_get_unusable_passwords, migrations.RunPython.noop),
    ]
