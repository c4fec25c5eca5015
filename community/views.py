"""Help and participation pages: how Baloo counts, the glossary, the FAQ, integrating a system, privacy,
and requests for new integrations."""

from datetime import date

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from conversion_points.metrics import WINDOW_DAYS

from .forms import IntegrationRequestForm
from .models import IntegrationRequest
from .selectors import integration_requests_public
from .services import integration_request_create


def help_index(request: HttpRequest) -> HttpResponse:
    return render(request, "community/help.html", {"section": "help"})


# The worked example on "How Baloo counts": Ann's two contributions, and the Sundays they decide.
EXAMPLE = {
    "first": date(2024, 3, 5),  # a Tuesday: her first answer on the support forum
    "first_week_start": date(2024, 3, 4),
    "first_sunday": date(2024, 3, 10),  # the week she is new
    "first_window_start": date(2023, 3, 12),
    "second": date(2024, 6, 12),  # her bug report, from another address
    "last_active_sunday": date(2025, 6, 8),  # window 2024-06-09 … 2025-06-08 still holds 12 June 2024
    "last_active_window_start": date(2024, 6, 9),
    "lapsed_sunday": date(2025, 6, 15),  # window 2024-06-16 … 2025-06-15 holds nothing of hers
    "lapsed_window_start": date(2024, 6, 16),
}


def how_baloo_counts(request: HttpRequest) -> HttpResponse:
    return render(
        request, "community/how_baloo_counts.html", {"section": "counts", "example": EXAMPLE, "window_days": WINDOW_DAYS}
    )


def glossary(request: HttpRequest) -> HttpResponse:
    return render(request, "community/glossary.html", {"section": "glossary"})


def faq(request: HttpRequest) -> HttpResponse:
    return render(request, "community/faq.html", {"section": "faq"})


def integrating(request: HttpRequest) -> HttpResponse:
    """For developers of other tools; written for the web (the developer guide is docs/integrating-a-system.md)."""
    return render(
        request,
        "community/integrating.html",
        {"section": "integrating", "request_url": reverse("community:integration-request")},
    )


def privacy(request: HttpRequest) -> HttpResponse:
    return render(request, "community/privacy.html", {"section": "privacy"})


def integrations(request: HttpRequest) -> HttpResponse:
    """The public list of requested and planned integrations (never who asked)."""
    requests = list(integration_requests_public())
    groups = [
        (IntegrationRequest.Status(status).label, [item for item in requests if item.status == status])
        for status in IntegrationRequest.PUBLIC_STATUSES
    ]
    return render(
        request,
        "community/integrations.html",
        {"groups": [group for group in groups if group[1]], "section": "integrations"},
    )


@require_http_methods(["GET", "POST"])
def integration_request(request: HttpRequest) -> HttpResponse:
    form = IntegrationRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        # Robots fill in the hidden field; they get the same thanks and store nothing.
        if not form.cleaned_data["website"]:
            data = form.cleaned_data
            integration_request_create(
                system=data["system"],
                url=data["url"],
                what_counts=data["what_counts"],
                contact=data["contact"],
                by=request.user,
            )
        return redirect("community:integration-request-thanks")
    return render(request, "community/integration_request.html", {"form": form, "section": "integrations"})


def integration_request_thanks(request: HttpRequest) -> HttpResponse:
    return render(request, "community/integration_request_thanks.html", {"section": "integrations"})
