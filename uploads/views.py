"""TO BE WRITTEN: placeholder views answering 501 until built."""

from django.http import HttpResponse


def image_list(request, *args, **kwargs):
    return HttpResponse("not built yet", status=501)


def image_upload(request, *args, **kwargs):
    return HttpResponse("not built yet", status=501)


def images_delete_all(request, *args, **kwargs):
    return HttpResponse("not built yet", status=501)


def image_detail(request, *args, **kwargs):
    return HttpResponse("not built yet", status=501)


def image_delete(request, *args, **kwargs):
    return HttpResponse("not built yet", status=501)


def link_create(request, *args, **kwargs):
    return HttpResponse("not built yet", status=501)


def link_edit(request, *args, **kwargs):
    return HttpResponse("not built yet", status=501)


def link_revoke(request, *args, **kwargs):
    return HttpResponse("not built yet", status=501)
