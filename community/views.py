"""Help and participation pages: the glossary, the FAQ, integrating a system, privacy,
and requests for new integrations. How Baloo counts is the dashboard's "How we count" page; its old
help address redirects there."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods

from .forms import IntegrationRequestForm
from .models import IntegrationRequest
from .selectors import integration_requests_public
from .services import integration_request_create


def help_index(request: HttpRequest) -> HttpResponse:
    return render(request, "community/help.html", {"section": "help"})


def how_baloo_counts(request: HttpRequest) -> HttpResponse:
    """Moved: "How we count" (dashboard app) is the one page on counting. Old links land there, in their
    language (/de/help/how-baloo-counts/ → /de/how-we-count/); browsers keep the #anchor."""
    return redirect("dashboard:how_we_count", permanent=True)


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


def integration_request_throttled(request: HttpRequest, *, retry_after: int) -> HttpResponse:
    """The request form's answer once many requests came from one address: the form, kept, with why."""
    form = IntegrationRequestForm(request.POST)
    form.is_valid()
    minutes = max(1, -(-retry_after // 60))
    form.add_error(
        None,
        ngettext(
            "Many requests came from your address in a short time. Please try again in %(minutes)s minute.",
            "Many requests came from your address in a short time. Please try again in %(minutes)s minutes.",
            minutes,
        )
        % {"minutes": minutes},
    )
    response = render(request, "community/integration_request.html", {"form": form, "section": "integrations"}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def integration_request_thanks(request: HttpRequest) -> HttpResponse:
    return render(request, "community/integration_request_thanks.html", {"section": "integrations"})
