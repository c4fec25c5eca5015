"""No public page or public API answer shows who anyone is: crawled over the demo community."""

import re
from urllib.parse import urldefrag, urlsplit

import pytest
from django.core.cache import cache
from django.core.management import call_command

from activities.models import Source
from contributors.models import Identity, Person
from conversion_points.models import Area, ConversionPoint
from metrics.engine import metrics_recompute

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Help pages show made-up addresses on the documentation domains (RFC 2606) in example records;
# those are allowed as long as they are nobody's identity, which the identity check below proves.
DOCUMENTATION_DOMAIN = re.compile(r"@example\.(?:org|com|net)$")
HREF = re.compile(r'href="([^"]+)"')
# Not public pages: the admin, sign-in, and the language links (a redirect to a page crawled anyway).
SKIP = re.compile(r"^(/(de|fr|es))?/(admin|oidc|language|static|i18n|api/v1/staff)/")
LANGUAGES = ("", "/de", "/fr", "/es")


@pytest.fixture
def demo(db, settings):
    settings.SECURE_SSL_REDIRECT = False
    cache.clear()
    call_command("seed_demo", people=60, stdout=open("/dev/null", "w"))  # noqa: SIM115
    run = metrics_recompute()
    yield run
    cache.clear()


def _public_urls() -> list[str]:
    api = ["/api/v1/metrics/summary/", "/api/v1/metrics/summary/?staff=include"]
    scopes = (
        ["all"]
        + [f"area:{slug}" for slug in Area.objects.values_list("slug", flat=True)]
        + [f"source:{slug}" for slug in Source.objects.values_list("slug", flat=True)]
        + [f"cp:{slug}" for slug in ConversionPoint.objects.values_list("slug", flat=True)]
    )
    api += [f"/api/v1/metrics/series/?scope={scope}" for scope in scopes]
    api += [f"{url}{'&' if '?' in url else '?'}format=csv" for url in api]
    return [f"{prefix}/" for prefix in LANGUAGES] + api


def test_no_public_page_or_api_answer_shows_an_email_or_an_identity(client, demo):
    secrets = {value.lower() for value in Identity.objects.values_list("value", flat=True)}
    secrets |= {name.lower() for name in Identity.objects.exclude(name="").values_list("name", flat=True)}
    secrets |= {name.lower() for name in Person.objects.exclude(display_name="").values_list("display_name", flat=True)}
    assert len(secrets) > 60 and any("@" in secret for secret in secrets)

    queue, seen, pages = _public_urls(), set(), 0
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        if response.status_code in (301, 302) and response["Location"].startswith("/"):
            queue.append(response["Location"])
            continue
        if response.status_code != 200:
            continue
        pages += 1
        body = response.content.decode()
        addresses = [found for found in EMAIL.findall(body) if not DOCUMENTATION_DOMAIN.search(found)]
        assert not addresses, f"{url} shows e-mail addresses: {addresses[:5]}"
        lowered = body.lower()
        leaked = sorted(secret for secret in secrets if secret in lowered)
        assert not leaked, f"{url} shows identities: {leaked[:5]}"
        if response["Content-Type"].startswith("text/html"):
            for href in HREF.findall(body):
                link = urldefrag(href.replace("&amp;", "&"))[0]
                if link.startswith("/") and not SKIP.match(link) and not urlsplit(link).netloc:
                    queue.append(link)
    # Every language's home, area, source, overlap and rules pages, and every API answer.
    assert pages > 4 * (1 + Area.objects.count() + Source.objects.count() + 2)
