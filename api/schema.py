"""OpenAPI pieces drf-spectacular cannot guess: the two token kinds, and what a staff operation answers.

The schema itself is served at /api/v1/schema/ (`api/urls.py`).
"""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers


class OIDCBearerScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.auth.OIDCBearerAuthentication"
    name = "oidcBearer"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201 - drf-spectacular's signature
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An access token from Baloo's OpenID Connect provider (checked at its userinfo endpoint).",
        }


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.auth.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A personal staff API token from the admin, sent as `Token <token>`.",
        }


CSV_PARAMETER = OpenApiParameter("format", str, enum=["json", "csv"], description="`csv` exports every matching row (audited).")

JSON, CSV, HTML = "application/json", "text/csv", "text/html"
BAD_REQUEST = {
    "type": "object",
    "description": "What is wrong, by parameter or field name (`detail` for the request as a whole): a message, a list "
    "of messages or, for a list's items, messages by position.",
    "minProperties": 1,
    "additionalProperties": {
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}},
            {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        ]
    },
    "example": {"page_size": "Give a whole number from 1 to 1000."},
}
NOT_FOUND = inline_serializer("NotFound", {"detail": serializers.CharField(help_text="What was not found.")})


def staff_responses(
    ok: Any, *, exports: bool = False, not_found: str = "", not_found_in_csv: bool = False, unrouted: bool = False
) -> dict:
    """What a staff API operation answers: `ok` (200, and a CSV file too when it `exports`), 400 for a bad
    parameter and, if `not_found` says when, 404 (`unrouted`: a path parameter that matches no route
    gets the site's HTML 404 page)."""
    responses: dict = {
        (200, JSON): ok,
        (400, JSON): OpenApiResponse(BAD_REQUEST, description="A bad query parameter or field value; the body says which and why."),
    }
    if exports:
        responses[200, CSV] = OpenApiResponse(OpenApiTypes.STR, description="With `?format=csv`: every matching row, a header first.")
        responses[400, CSV] = OpenApiResponse(OpenApiTypes.STR, description="With `?format=csv`: an `error` column, one message a row.")
    if not_found:
        responses[404, JSON] = OpenApiResponse(NOT_FOUND, description=not_found)
        if not_found_in_csv:
            responses[404, CSV] = OpenApiResponse(OpenApiTypes.STR, description="With `?format=csv`: an `error` column and the message.")
        if unrouted:
            responses[404, HTML] = OpenApiResponse(OpenApiTypes.STR, description="A path parameter of the wrong form: no such page.")
    return responses
