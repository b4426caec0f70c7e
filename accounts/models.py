from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q


def display_name(*, first_name: str, last_name: str, email: str, username: str) -> str:
    """What the portal calls a person: their full name, else their email, else their username."""
    return f"{first_name} {last_name}".strip() or email or username


class PortalUserManager(UserManager):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        """A break-glass account: `manage.py createsuperuser`, run on the server, calls this."""
        extra_fields["break_glass"] = True
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    """A person, known by the provider that vouches for them and their `sub` there.

    The email address is only contact data: providers let people change it, so it never
    identifies anyone. Accounts without an OpenID identity (a break-glass admin) keep an empty
    subject and sign in with a password, where a setting allows that at all.
    """

    oidc_issuer = models.CharField("OpenID issuer", max_length=255, blank=True)
    oidc_subject = models.CharField("OpenID subject (sub)", max_length=255, blank=True)
    # Not editable: no admin form can mint a password account that outlives SSO.
    break_glass = models.BooleanField(
        "break-glass account",
        default=False,
        editable=False,
        help_text="Made with manage.py createsuperuser on the server: may sign in with a "
        "password while ADMIN_BREAK_GLASS_LOGIN is on.",
    )

    objects = PortalUserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["oidc_issuer", "oidc_subject"],
                condition=~Q(oidc_subject=""),
                name="unique_oidc_identity",
            )
        ]

    def __str__(self):
        return self.display_name

    @property
    def display_name(self) -> str:
        return display_name(
            first_name=self.first_name,
            last_name=self.last_name,
            email=self.email,
            username=self.username,
        )

    @property
    def may_sign_in_with_password(self) -> bool:
        """Only a superuser made by createsuperuser, and never an SSO identity."""
        return self.break_glass and self.is_superuser and not self.oidc_subject
