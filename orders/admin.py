"""The admin site for the catalog and orders: every order list goes through orders_visible_to.

The order change list stays fast with millions of rows: no exact COUNT(*) of the table, sorting
only by `created` (the (created, id) index), and searches that hit an index.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

from orders.models import InvalidTransition, Order, OrderEvent, OrderLine, Product
from orders.selectors import orders_matching, orders_visible_to
from orders.services import NotAllowed, order_change_status

# Up to this many rows are counted exactly; beyond, the paginator says "about N".
COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """A paginator that never counts a whole large table.

    An unfiltered queryset on PostgreSQL uses the planner's row estimate (pg_class.reltuples)
    once the table is larger than COUNT_CAP; anything else is counted up to COUNT_CAP + 1 rows
    (`SELECT COUNT(*) FROM (... LIMIT 10001)`), which stops early.
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        estimate = self._table_estimate(queryset)
        if estimate is not None and estimate > COUNT_CAP:
            return estimate
        return queryset.order_by()[: COUNT_CAP + 1].count()

    @staticmethod
    def _table_estimate(queryset) -> int | None:
        query = queryset.query
        if query.where or query.distinct or query.is_sliced or query.combinator:
            return None
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                [connection.ops.quote_name(queryset.model._meta.db_table)],
            )
            row = cursor.fetchone()
        # -1 (never vacuumed or analyzed) or a missing table: no estimate.
        return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None


class NewestFirstChangeList(ChangeList):
    """Sorted by `created` (either way) with `id` as the tie-breaker in the same direction, so
    the (created, id) index serves every page. Django honours `?o=` for any column, whatever
    `sortable_by` says; here any other column falls back to newest first."""

    def get_ordering(self, request, queryset):
        ordering = super().get_ordering(request, queryset)
        if ordering and ordering[0] == "created":
            return ["created", "id"]
        return ["-created", "-id"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "unit_price", "active")
    list_display_links = ("sku",)
    list_editable = ("name", "unit_price", "active")
    list_filter = ("active",)
    search_fields = ("sku", "name")
    ordering = ("sku",)


class ReadOnlyInline(admin.TabularInline):
    """History belongs to the order: shown, never added, changed or deleted here."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ("sku", "name", "quantity", "unit_price", "line_total")
    readonly_fields = fields


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fields = ("at", "from_status", "to_status", "actor")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


class OrderAdminForm(forms.ModelForm):
    """Status choices are the current status and what the pipeline allows next."""

    class Meta:
        model = Order
        fields = ("status",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "status" in self.fields:
            allowed = {self.instance.status, *self.instance.next_statuses()}
            self.fields["status"].choices = [
                (value, label) for value, label in Order.Status.choices if value in allowed
            ]

    def clean_status(self):
        status = self.cleaned_data["status"]
        if self.instance.pk and status != self.instance.status:
            try:
                self.instance.check_transition(status)
            except InvalidTransition as error:
                raise forms.ValidationError(str(error)) from error
        return status


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    form = OrderAdminForm
    list_display = ("number", "owner", "status", "total", "currency", "created")
    list_filter = ("status",)
    list_select_related = ("owner",)
    # Exact matches only, each answered by an index (see get_search_results).
    search_fields = ("=number", "=owner__email")
    search_help_text = "An order number (ORD-XXXXX-XXXXX) or the owner's exact email address."
    sortable_by = ("created",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # facets count every status over the whole table
    paginator = CappedCountPaginator
    list_per_page = 50
    fields = ("number", "owner", "status", "total", "currency", "created", "updated")
    readonly_fields = ("number", "owner", "total", "currency", "created", "updated")
    inlines = (OrderLineInline, OrderEventInline)

    def get_queryset(self, request):
        return orders_visible_to(request.user)

    def get_changelist(self, request, **kwargs):
        return NewestFirstChangeList

    def get_search_results(self, request, queryset, search_term):
        """The pages' search rule; Django's `=field` (UPPER() = UPPER()) would miss every index."""
        if not search_term.strip():
            return queryset, False
        return orders_matching(queryset, search_term), False

    def has_add_permission(self, request):
        return False  # orders are placed by their owners (orders.services.order_place)

    def has_delete_permission(self, request, obj=None):
        return False  # orders are records: cancel one instead

    def save_model(self, request, obj, form, change):
        """A status change goes through the pipeline and is recorded as an OrderEvent."""
        if change and "status" in form.changed_data:
            try:
                order_change_status(order=obj, to_status=obj.status, actor=request.user)
            except (InvalidTransition, NotAllowed) as error:
                self.message_user(request, str(error), level="error")
