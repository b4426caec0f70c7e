from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self):
        from accounts import checks  # noqa: F401 - registers the system checks
        from accounts.backends import forget_cached_user
        from accounts.services import role_admin_grant_permissions

        # Permissions are created app by app after migrate, so a data migration can't grant
        # them; re-granting after every app's signal catches the apps listed after ours.
        post_migrate.connect(role_admin_grant_permissions, dispatch_uid="role_admin_permissions")
        user_model = self.get_model("User")
        post_save.connect(forget_cached_user, sender=user_model, dispatch_uid="forget_user_save")
        post_delete.connect(forget_cached_user, sender=user_model, dispatch_uid="forget_user_del")
