"""The staff API (mounted at /api/v1/staff/) and the single sign-on pages (mounted at /oidc/)."""

from django.urls import include, path

from . import api, views

staff_api = [
    path("people/", api.PersonListView.as_view(), name="people"),
    path("people/<int:pk>/", api.PersonDetailView.as_view(), name="person"),
    path("activities/", api.ActivityListView.as_view(), name="activities"),
    path("areas/", api.AreaListView.as_view(), name="areas"),
    path("areas/<slug:slug>/contributors/", api.AreaContributorsView.as_view(), name="area-contributors"),
    path("dedup/", api.DedupCheckView.as_view(), name="dedup"),
]

# mozilla-django-oidc's views keep their own URL names (oidc_authentication_init, …): it reverses them.
oidc = [
    path("refused/", views.sign_in_refused, name="oidc_refused"),
    path("", include("mozilla_django_oidc.urls")),
]
