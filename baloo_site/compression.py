"""Compressed pages: Django's `GZipMiddleware` (with its BREACH padding), for HTML answers only.

Pages are what people wait for on a phone. The API's JSON and CSV keep the exact bytes their
clients and the contract tests read (a client that asks for gzip but does not decode it, such as a
WSGI test transport, would otherwise get bytes it cannot parse); static files are WhiteNoise's,
compressed once at build time. Why compressing pages is safe: docs/security.md, "Compressed answers".
"""

from django.http import HttpRequest, HttpResponseBase
from django.middleware.gzip import GZipMiddleware


class PageGZipMiddleware(GZipMiddleware):
    """`GZipMiddleware` for `text/html` answers; everything else passes untouched."""

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        return super().process_response(request, response)
