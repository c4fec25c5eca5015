"""Help and participation pages (mounted inside the language-prefixed URLs)."""

from django.urls import path

from . import views

app_name = "community"

urlpatterns = [
    path("help/", views.help_index, name="help"),
    # Moved to the dashboard's "How we count" (one page on counting): a permanent redirect for old links.
    path("help/how-baloo-counts/", views.how_baloo_counts, name="how-baloo-counts"),
    path("help/glossary/", views.glossary, name="glossary"),
    path("help/faq/", views.faq, name="faq"),
    path("help/integrating-a-system/", views.integrating, name="integrating"),
    path("help/privacy/", views.privacy, name="privacy"),
    path("integrations/", views.integrations, name="integrations"),
    path("integrations/request/", views.integration_request, name="integration-request"),
    path("integrations/request/thanks/", views.integration_request_thanks, name="integration-request-thanks"),
]
