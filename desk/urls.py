"""The builder's desk (mounted inside the language-prefixed URLs, under /desk/)."""

from django.urls import path

from . import views

app_name = "desk"

urlpatterns = [
    path("", views.index, name="index"),
    path("area/<slug:slug>/", views.area_desk, name="area"),
    path("area/<slug:slug>/people.csv", views.area_csv, name="area-csv"),
    path("area/<slug:slug>/people/<int:person_id>/", views.person_activities, name="person"),
    path("digest/", views.digest_settings, name="digest"),
    path("digest/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
