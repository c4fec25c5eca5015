"""The single sign-on pages (mounted at /oidc/)."""

from django.urls import path

from . import views

# mozilla-django-oidc reverses these names (oidc_authentication_init, …); the views are Baloo's own,
# so every way a sign-in can go wrong ends on a page that says so.
oidc = [
    path("authenticate/", views.OIDCAuthenticationRequestView.as_view(), name="oidc_authentication_init"),
    path("callback/", views.OIDCCallbackView.as_view(), name="oidc_authentication_callback"),
    path("logout/", views.sign_out, name="oidc_logout"),
    path("refused/", views.sign_in_refused, name="oidc_refused"),
]
