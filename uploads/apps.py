from django.apps import AppConfig


class UploadsConfig(AppConfig):
    name = "uploads"
    verbose_name = "Images"

    def ready(self):
        from uploads import checks  # noqa: F401 - registers the system check
