"""Contributor pages (mounted inside the language-prefixed URLs)."""

from django.urls import path

from . import views

app_name = "contributors"

urlpatterns = [
    path("me/", views.my_contributions, name="my-contributions"),
    path("me/accounts/", views.my_accounts, name="my-accounts"),
    path("me/accounts/confirm/<str:token>/", views.email_confirm, name="email-confirm"),
    path("me/privacy/", views.my_privacy, name="my-privacy"),
    path("me/privacy/my-data.json", views.my_data, name="my-data"),
    path("me/privacy/forget/", views.my_forget, name="my-forget"),
    path("people/<int:pk>/", views.profile, name="profile"),
]
