"""Pages that belong to no single app: the public home page and the error pages."""

from django.conf import settings
from django.http import HttpResponseServerError
from django.shortcuts import render
from django.template.loader import get_template


def home(request):
    """Public landing page: what the portal is and a way in."""
    return render(request, "home.html")


def permission_denied(request, exception=None):
    """403: signed in, but without the role this page needs."""
    return render(request, "errors/403.html", status=403)


def page_not_found(request, exception=None):
    """404, also for objects that exist but belong to someone else."""
    return render(request, "errors/404.html", status=404)


def server_error(request):
    """500 without a request context: the template must not touch the database or the user."""
    context = {"support_contact": settings.SUPPORT_CONTACT}
    return HttpResponseServerError(get_template("errors/500.html").render(context))


def csrf_failure(request, reason=""):
    """403 for a failed CSRF check, usually a form left open too long or cookies blocked."""
    return render(request, "errors/403_csrf.html", status=403)
