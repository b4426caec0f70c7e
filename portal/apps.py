from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The shared helpers; an app only so that its start-up checks are registered."""

    name = "portal"
    verbose_name = "Portal"

    def ready(self):
        from portal import checks  # noqa: F401 - registers the system check
