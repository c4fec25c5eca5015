"""The API router: every API route of the project, listed here (machine-facing, no language prefix).

Endpoints live next to the data they serve: the push API in `activities`, the public metrics API in
`conversion_points`, the staff API in `api/staff/`. This module only says where each is mounted.
"""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from .staff import activities, areas, dedup, people

staff_api = [
    path("people/", people.PersonListView.as_view(), name="people"),
    path("people/<int:pk>/", people.PersonDetailView.as_view(), name="person"),
    path("activities/", activities.ActivityListView.as_view(), name="activities"),
    path("areas/", areas.AreaListView.as_view(), name="areas"),
    path("areas/<slug:slug>/contributors/", areas.AreaContributorsView.as_view(), name="area-contributors"),
    path("dedup/", dedup.DedupCheckView.as_view(), name="dedup"),
]

urlpatterns = [
    # The push API (POST /api/v1/activities/) and the GitHub webhooks.
    path("", include("activities.urls")),
    # The public metrics API (CONTRACTS.md §5): /api/v1/metrics/…
    path("", include("conversion_points.urls")),
    path("api/v1/staff/", include((staff_api, "staff_api"))),
    # The OpenAPI schema of all of the above.
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
]
