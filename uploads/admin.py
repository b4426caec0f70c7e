"""The admin site for images, share links and pending uploads.

Nothing here makes an object public: previews are short-lived signed URLs, a link can only be
revoked (never reopened or made), and deleting an image goes through the service that removes
its objects from S3.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html

from uploads import links, services, signing, viewers
from uploads.models import Image, PendingUpload, ShareLink
from uploads.processing import megabytes
from uploads.selectors import images_visible_to, links_visible_to


class ReadOnlyFieldsMixin:
    """Every field shown, none changed; rows are made by the portal's own pages and API."""

    def has_add_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [*self.fields] if self.fields else []


@admin.register(Image)
class ImageAdmin(ReadOnlyFieldsMixin, admin.ModelAdmin):
    list_display = ("preview", "title", "owner", "size", "content_type", "created")
    list_display_links = ("preview", "title")
    list_filter = ("content_type", "kept_metadata", "created")
    list_select_related = ("owner",)
    search_fields = ("title", "owner__email")
    search_help_text = "Part of the title, or part of the owner's email address."
    list_per_page = 50
    fields = (
        "large_preview",
        "title",
        "owner",
        "filename",
        "content_type",
        "format",
        "width",
        "height",
        "size",
        "kept_metadata",
        "created",
        "key",
        "thumbnail_key",
    )

    def get_queryset(self, request):
        return images_visible_to(request.user)

    def get_readonly_fields(self, request, obj=None):
        return [field for field in self.fields if field != "title"]

    @admin.display(description="Preview")
    def preview(self, image):
        # Signed once per window (uploads/signing.py), so a page of rows costs little.
        return format_html(
            '<img src="{}" alt="{}" width="64">',
            signing.image_url(image, thumbnail=True),
            image.title,
        )

    @admin.display(description="Preview")
    def large_preview(self, image):
        return format_html(
            '<img src="{}" alt="{}">',
            signing.image_url(image, thumbnail=True),
            image.title,
        )

    @admin.display(description="Size", ordering="bytes")
    def size(self, image):
        return megabytes(image.bytes)

    def delete_model(self, request, obj):
        services.image_delete(obj, actor=request.user)  # its objects in S3 too

    def delete_queryset(self, request, queryset):
        for image in queryset:
            services.image_delete(image, actor=request.user)


@admin.register(ShareLink)
class ShareLinkAdmin(ReadOnlyFieldsMixin, admin.ModelAdmin):
    list_display = (
        "short_token",
        "image",
        "created_by",
        "state",
        "views_counted",
        "max_views",
        "expires",
        "created",
    )
    list_select_related = ("image", "created_by")
    list_filter = ("download", "expires", "revoked")
    search_fields = ("image__title", "created_by__email", "=token")
    search_help_text = "Part of the image's title or the creator's email, or a whole token."
    list_per_page = 50
    actions = ("revoke_selected",)
    # The password hash and the viewer sketch stay out of sight.
    fields = (
        "token",
        "image",
        "created_by",
        "created",
        "expires",
        "max_views",
        "views_counted",
        "has_password",
        "download",
        "revoked",
        "state",
    )

    def get_queryset(self, request):
        return links_visible_to(request.user)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: a revoked link tells its holders it is gone

    @admin.display(description="Token")
    def short_token(self, link):
        return f"{link.token[:8]}…"

    @admin.display(description="State")
    def state(self, link):
        viewers.load_views([link])  # with Redis, the count lives there
        return link.state()

    @admin.display(description="Views")
    def views_counted(self, link):
        viewers.load_views([link])
        return link.views

    @admin.display(description="Password", boolean=True)
    def has_password(self, link):
        return link.has_password

    @admin.action(description="Revoke selected links", permissions=["change"])
    def revoke_selected(self, request, queryset):
        revoked = sum(links.link_revoke(link, actor=request.user)[1] for link in queryset)
        self.message_user(
            request,
            f"Revoked {revoked} link{'s' if revoked != 1 else ''}.",
            messages.SUCCESS,
        )


@admin.register(PendingUpload)
class PendingUploadAdmin(ReadOnlyFieldsMixin, admin.ModelAdmin):
    """Direct uploads handed out and not completed yet (uploads_cleanup removes stale ones)."""

    list_display = ("filename", "owner", "declared_type", "declared_size", "created", "expires")
    list_select_related = ("owner",)
    search_fields = ("filename", "owner__email")
    fields = (
        "id",
        "owner",
        "key",
        "filename",
        "declared_type",
        "declared_size",
        "created",
        "expires",
    )

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
