from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path

from accounts import urls as accounts_urls
from accounts import views as accounts_views
from dashboard import embeds as dashboard_embeds
from dashboard import views as dashboard_views

from . import health

# An error outside a view: JSON on machine-facing URLs, the HTML page elsewhere (baloo_site/errors.py).
handler500 = "baloo_site.errors.server_error"

# Machine-facing URLs carry no language prefix.
urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    # The language links of every page: remember the choice, then show the page in that language (dashboard app).
    path("language/<str:code>/", dashboard_views.language_switch, name="language_switch"),
    path("healthz", health.healthz, name="healthz"),
    # A scope's active contributors as an SVG badge for other sites; its language is ?lang= (dashboard/embeds.py).
    path("badge/active.svg", dashboard_embeds.badge, name="badge_active"),
    # Every API route, and the OpenAPI schema (api/urls.py, the API router).
    path("", include("api.urls")),
    # Single sign-on (OpenID Connect; accounts app).
    path("oidc/", include(accounts_urls.oidc)),
]

# Pages people read are localized; the language can be shared in the URL (/de/, /fr/…).
urlpatterns += i18n_patterns(
    # The public dashboard (dashboard app): home, areas, sources, overlap, how we count.
    path("", dashboard_views.home, name="home"),
    path("", include("dashboard.urls")),
    # The admin's login and logout go through single sign-on when it is configured (accounts app).
    path("admin/login/", accounts_views.admin_login, name="admin_login"),
    path("admin/logout/", accounts_views.admin_logout, name="admin_logout"),
    path("admin/", admin.site.urls),
    # Contributors' password sign-in, in development without single sign-on only (accounts app).
    path("sign-in/", accounts_views.sign_in, name="sign_in"),
    # Help, glossary, participation (community app) and the contributor pages: my contributions, my accounts, privacy.
    path("", include("community.urls")),
    path("", include("contributors.urls")),
    # The builder's desk: an area's new, active, about to lapse and lapsed people; the weekly digest (desk app).
    path("desk/", include("desk.urls")),
    prefix_default_language=False,
)
