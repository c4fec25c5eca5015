"""URLs of the public metrics API (no language prefix; mounted by the API router, api/urls.py)."""

from django.urls import path

from .api import MetricsCohortsView, MetricsPathwaysView, MetricsSeriesView, MetricsSummaryView
from .campaigns_api import MetricsCampaignsView
from .quality_api import DataQualityView

urlpatterns = [
    path("api/v1/metrics/summary/", MetricsSummaryView.as_view(), name="metrics-summary"),
    path("api/v1/metrics/series/", MetricsSeriesView.as_view(), name="metrics-series"),
    path("api/v1/metrics/cohorts/", MetricsCohortsView.as_view(), name="metrics-cohorts"),
    path("api/v1/metrics/data-quality/", DataQualityView.as_view(), name="metrics-data-quality"),
    path("api/v1/metrics/campaigns/", MetricsCampaignsView.as_view(), name="metrics-campaigns"),
    path("api/v1/metrics/pathways/", MetricsPathwaysView.as_view(), name="metrics-pathways"),
]
