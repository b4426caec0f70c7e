"""The real URLs plus two views that fail on purpose, to show the error pages."""

from django.core.exceptions import PermissionDenied
from django.urls import path

from config.urls import handler403, handler404, handler500, urlpatterns  # noqa: F401


def _boom(request):
    raise RuntimeError("deliberate failure for the 500 page test")


def _forbidden(request):
    raise PermissionDenied


urlpatterns = [*urlpatterns, path("boom/", _boom), path("forbidden/", _forbidden)]
