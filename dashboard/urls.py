"""The public dashboard's pages, mounted inside i18n_patterns (the language is in the URL)."""

from django.urls import path

from . import embeds, quality, views

app_name = "dashboard"

urlpatterns = [
    path("overlap/", views.overlap, name="overlap"),
    path("area/<slug:slug>/", views.area_detail, name="area"),
    path("source/<slug:slug>/", views.source_detail, name="source"),
    path("how-we-count/", views.how_we_count, name="how_we_count"),
    path("data-quality/", quality.data_quality_page, name="data_quality"),
    # The one page other sites may frame: a scope's weekly chart (embeds.py).
    path("embed/chart/", embeds.embed_chart, name="embed_chart"),
]
