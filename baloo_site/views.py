from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from activities.selectors import activity_totals


def home(request: HttpRequest) -> HttpResponse:
    """The front page. The full public dashboard lives in its own issue; this shows what Baloo holds."""
    return render(request, "home.html", {"totals": activity_totals()})
