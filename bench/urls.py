"""The portal's URLs plus two tiny views to compare the real pages with, on the same server."""

from django.http import HttpResponse
from django.urls import path

from accounts.roles import USER, has_role
from config.urls import handler403, handler404, handler500
from config.urls import urlpatterns as portal_urlpatterns

__all__ = ["handler403", "handler404", "handler500", "urlpatterns"]


def bare(request):
    """The cheapest response this server gives: no session, no database."""
    return HttpResponse("ok", content_type="text/plain")


def signed_in(request):
    """What every signed-in page pays before its own work: session, user and roles."""
    if not has_role(request.user, USER):
        return HttpResponse("no", status=403, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/bare", bare),
    path("bench/signed-in", signed_in),
    *portal_urlpatterns,
]
