"""URLs of the public metrics API (no language prefix; mounted by the API router, api/urls.py)."""

from django.urls import path

from .api import MetricsPathwaysView, MetricsSeriesView, MetricsSummaryView

urlpatterns = [
    path("api/v1/metrics/summary/", MetricsSummaryView.as_view(), name="metrics-summary"),
    path("api/v1/metrics/series/", MetricsSeriesView.as_view(), name="metrics-series"),
    path("api/v1/metrics/pathways/", MetricsPathwaysView.as_view(), name="metrics-pathways"),
]
