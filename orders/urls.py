from django.urls import path

from orders import api, views

urlpatterns = [
    # Pages
    path("orders/", views.order_list, name="order_list"),
    path("orders/new/", views.order_new, name="order_new"),
    path("orders/<str:number>/", views.order_detail, name="order_detail"),
    path("orders/<str:number>/status/", views.order_set_status, name="order_set_status"),
    # JSON API
    path("api/", api.api_docs, name="api_docs"),
    path("api/orders", api.orders_collection, name="api_orders"),
    path("api/orders/<str:number>", api.order_item, name="api_order"),
    path("api/orders/<str:number>/status", api.order_status, name="api_order_status"),
]
