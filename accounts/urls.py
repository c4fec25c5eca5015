"""The staff API (mounted at /api/v1/staff/) and the single sign-on pages (mounted at /oidc/)."""

from django.urls import path

from . import api, views

staff_api = [
    path("people/", api.PersonListView.as_view(), name="people"),
    path("people/<int:pk>/", api.PersonDetailView.as_view(), name="person"),
    path("activities/", api.ActivityListView.as_view(), name="activities"),
    path("areas/", api.AreaListView.as_view(), name="areas"),
    path("areas/<slug:slug>/contributors/", api.AreaContributorsView.as_view(), name="area-contributors"),
    path("dedup/", api.DedupCheckView.as_view(), name="dedup"),
]

# mozilla-django-oidc reverses these names (oidc_authentication_init, …); the views are Baloo's own,
# so every way a sign-in can go wrong ends on a page that says so.
oidc = [
    path("authenticate/", views.OIDCAuthenticationRequestView.as_view(), name="oidc_authentication_init"),
    path("callback/", views.OIDCCallbackView.as_view(), name="oidc_authentication_callback"),
    path("logout/", views.sign_out, name="oidc_logout"),
    path("refused/", views.sign_in_refused, name="oidc_refused"),
]
