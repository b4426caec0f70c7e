"""TO BE WRITTEN: placeholder views answering 501 until built."""

from django.http import HttpResponse


def share_open(request, *args, **kwargs):
    return HttpResponse("not built yet", status=501)


def share_raw(request, *args, **kwargs):
    return HttpResponse("not built yet", status=501)
