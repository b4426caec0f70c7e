"""TO BE WRITTEN: placeholder views answering 501 until built."""

from django.http import HttpResponse


def images_collection(request, *args, **kwargs):
    return HttpResponse("not built yet", status=501)


def uploads_collection(request, *args, **kwargs):
    return HttpResponse("not built yet", status=501)


def upload_complete(request, *args, **kwargs):
    return HttpResponse("not built yet", status=501)


def image_item(request, *args, **kwargs):
    return HttpResponse("not built yet", status=501)


def image_links(request, *args, **kwargs):
    return HttpResponse("not built yet", status=501)


def link_item(request, *args, **kwargs):
    return HttpResponse("not built yet", status=501)
