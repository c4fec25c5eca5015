"""URLs of the activities app: the push API and webhooks (machine-facing, no language prefix)."""

from django.urls import path

from . import api, webhooks

urlpatterns = [
    path("api/v1/activities/", api.activities_push, name="activities-push"),
    path("hooks/github/<slug:slug>/", webhooks.github_webhook, name="github-webhook"),
]
