"""The password sign-in for break-glass superusers (ADMIN_BREAK_GLASS_LOGIN), and no one else."""

from django.conf import settings
from django.contrib.auth.backends import ModelBackend


class BreakGlassModelBackend(ModelBackend):
    """Django's password backend, refusing every account not made by createsuperuser.

    A password set any other way (the admin site, a shell, an old account) never signs anyone in,
    and a session it made ends once the account stops qualifying.
    """

    def user_can_authenticate(self, user):
        return (
            settings.ADMIN_BREAK_GLASS_LOGIN
            and super().user_can_authenticate(user)
            and user.may_sign_in_with_password
        )
