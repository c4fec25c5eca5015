"""URLs of the public metrics API and the API schema (no language prefix)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from .api import MetricsSeriesView, MetricsSummaryView

urlpatterns = [
    path("api/v1/metrics/summary/", MetricsSummaryView.as_view(), name="metrics-summary"),
    path("api/v1/metrics/series/", MetricsSeriesView.as_view(), name="metrics-series"),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
]
