"""Errors on machine-facing URLs are JSON, like every other answer there (CONTRACTS: the push API answers JSON).

Django's own 500 page is HTML; a system pushing activities while the database drops must get
something it can read: `503 {"detail": …}` with `Retry-After` when the database failed (nothing of
that request was stored: a batch commits whole, and resending it is always safe), `500 {"detail": …}`
for anything else. People's pages keep the HTML page.
"""

import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

logger = logging.getLogger("django.request")

MACHINE_PREFIXES = ("/api/", "/hooks/")
RETRY_AFTER_SECONDS = 30
DATABASE_DOWN = "The database is unavailable; nothing from this request was stored. Send it again later: resending is always safe."
SERVER_ERROR = "Server error; it has been logged. Resending the same request is safe: nothing is stored twice."


def is_machine_path(path: str) -> bool:
    return path.startswith(MACHINE_PREFIXES)


class MachineErrorsMiddleware:
    """A view's uncaught exception on a machine-facing URL becomes a JSON answer (logged as Django would)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_machine_path(request.path):
            return None
        logger.error("Internal Server Error: %s", request.path, exc_info=exception, extra={"status_code": 500, "request": request})
        if isinstance(exception, DatabaseError):
            response = JsonResponse({"detail": DATABASE_DOWN}, status=503)
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        return JsonResponse({"detail": SERVER_ERROR}, status=500)


def server_error(request: HttpRequest, template_name: str = defaults.ERROR_500_TEMPLATE_NAME) -> HttpResponse:
    """`handler500`: JSON on machine-facing URLs (an error raised outside a view, in a middleware), else Django's page."""
    if is_machine_path(request.path):
        return JsonResponse({"detail": SERVER_ERROR}, status=500)
    return defaults.server_error(request, template_name)
