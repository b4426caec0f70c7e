from django.urls import path

from uploads import api, share_views, views

urlpatterns = [
    # Pages for signed-in people
    path("images/", views.image_list, name="image_list"),
    path("images/upload/", views.image_upload, name="image_upload"),
    path("images/delete-all/", views.images_delete_all, name="images_delete_all"),
    path("images/<int:image_id>/", views.image_detail, name="image_detail"),
    path("images/<int:image_id>/delete/", views.image_delete, name="image_delete"),
    path("images/<int:image_id>/links/", views.link_create, name="image_link_create"),
    path("links/<str:token>/", views.link_edit, name="link_edit"),
    path("links/<str:token>/revoke/", views.link_revoke, name="link_revoke"),
    # Share links, for anyone holding one
    path("s/<str:token>", share_views.share_open, name="share_open"),
    path("s/<str:token>/raw", share_views.share_raw, name="share_raw"),
    # JSON API (uploads first: "uploads" is not an image id)
    path("api/images", api.images_collection, name="api_images"),
    path("api/images/uploads", api.uploads_collection, name="api_image_uploads"),
    path(
        "api/images/uploads/<str:upload_id>/complete",
        api.upload_complete,
        name="api_upload_complete",
    ),
    path("api/images/<str:image_id>", api.image_item, name="api_image"),
    path("api/images/<str:image_id>/links", api.image_links, name="api_image_links"),
    path("api/links/<str:token>", api.link_item, name="api_link"),
]
