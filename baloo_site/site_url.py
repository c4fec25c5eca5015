"""Absolute links to Baloo that leave the page: in e-mails, and given to the sign-in provider.

They are built from `BALOO_SITE_URL` when it is set, never from the request's `Host` header: with a
wildcard in `ALLOWED_HOSTS` (`.example.org`), any host the wildcard allows, an attacker's own
subdomain included, would otherwise land in a confirmation e-mail or the provider's return address.
Unset, the request's host is used, as Django does, which is safe without wildcards.
"""

from django.conf import settings
from django.core import checks
from django.http import HttpRequest


def site_url(path: str, *, request: HttpRequest) -> str:
    """The absolute address of `path` (an absolute path, e.g. from `reverse`) on this site."""
    if settings.BALOO_SITE_URL:
        return settings.BALOO_SITE_URL + path
    return request.build_absolute_uri(path)


def site_url_check(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """`check --deploy` warns when a wildcard host answers and no site URL is set."""
    wildcards = [host for host in settings.ALLOWED_HOSTS if host == "*" or host.startswith(".")]
    if not wildcards or settings.BALOO_SITE_URL:
        return []
    return [
        checks.Warning(
            f"DJANGO_ALLOWED_HOSTS holds a wildcard ({', '.join(wildcards)}) and BALOO_SITE_URL is not set: "
            "links in e-mails and the sign-out return address would use whatever host a request names.",
            hint="Set BALOO_SITE_URL to the site's public address, e.g. https://baloo.example.org.",
            id="baloo.W001",
        )
    ]
