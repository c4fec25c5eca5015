from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path

from . import health, views

# Machine-facing URLs carry no language prefix.
urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", health.healthz, name="healthz"),
    path("", include("activities.urls")),
    path("", include("conversion_points.urls")),
]

# Pages people read are localized; the language can be shared in the URL (/de/, /fr/…).
urlpatterns += i18n_patterns(
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
    prefix_default_language=False,
)
