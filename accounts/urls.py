from django.urls import path

from accounts import views

urlpatterns = [
    path("oidc/authenticate/", views.SignInView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", views.CallbackView.as_view(), name="oidc_authentication_callback"),
    path("oidc/logout/", views.sign_out, name="oidc_logout"),
    path("account/", views.account, name="account"),
    path("api/me", views.api_me, name="api_me"),
]
