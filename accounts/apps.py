from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self):
        from accounts.services import role_admin_grant_permissions

        # Permissions are created app by app after migrate, so a data migration can't grant
        # them; re-granting after every app's signal catches the apps listed after ours.
        post_migrate.connect(role_admin_grant_permissions, dispatch_uid="role_admin_permissions")
