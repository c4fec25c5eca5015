"""Help and participation everywhere: every public page offers the report link; every page speaks every language."""

import re
from collections import deque
from urllib.parse import urldefrag, urlparse

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import translation

from activities.tests.factories import SourceFactory
from contributors.models import Identity
from conversion_points.tests.factories import AreaFactory, ConversionPointFactory

from .factories import IntegrationRequestFactory, UserFactory, ingest, record

pytestmark = pytest.mark.django_db

TRACKER = "https://issues.example.org/baloo/new"
HREF = re.compile(r'href="([^"]+)"')
LANGUAGE_PREFIX = re.compile("^/({})/".format("|".join(code for code, _name in django_settings.LANGUAGES)))
# Not pages for the public to read: the admin, sign-in, machine endpoints, files.
SKIP = ("/admin/", "/oidc/", "/i18n/", "/language/", "/api/", "/hooks/", "/static/", "/healthz")

HELP_PAGES = [
    "community:help",
    "dashboard:how_we_count",  # How Baloo counts: one page with the dashboard's rules, in the help navigation
    "community:glossary",
    "community:faq",
    "community:integrating",
    "community:privacy",
    "community:integrations",
    "community:integration-request",
    "community:integration-request-thanks",
]
MY_PAGES = [
    "contributors:my-contributions",
    "contributors:my-accounts",
    "contributors:my-privacy",
    "contributors:my-forget",
]


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP
    settings.BALOO_ISSUE_TRACKER_URL = TRACKER


@pytest.fixture
def community():
    sumo = SourceFactory(slug="sumo", kind="sumo", name="Support forum")
    ConversionPointFactory(
        slug="answer",
        area=AreaFactory(slug="support", name="Support"),
        source=sumo,
        types=["sumo.answer.posted"],
        recognition="Thank you!",
        next_step_url="https://example.org/next",
    )
    ingest(
        *[
            record("sumo", {"email": "ann@example.org", "username": "annie"}, "sumo.answer.posted", title=f"Answer {n}")
            for n in range(12)
        ]
    )
    person = Identity.objects.get(value="ann@example.org").person
    person.profile_public, person.profile_name = True, "Ann"
    person.save(update_fields=["profile_public", "profile_name"])
    IntegrationRequestFactory(system="Discourse", public_note="Planned for spring")
    return person


def internal_links(page: str) -> list[str]:
    links = []
    for href in HREF.findall(page):
        url, _fragment = urldefrag(href)
        parsed = urlparse(url)
        unprefixed = LANGUAGE_PREFIX.sub("/", url)
        if (
            parsed.scheme
            or parsed.netloc
            or not url.startswith("/")
            or unprefixed.startswith(SKIP)
            or url.endswith(".json")
        ):
            continue
        links.append(url)
    return links


def test_every_public_page_offers_the_report_link(client, community):
    start = ["/", *(reverse(name) for name in HELP_PAGES), reverse("contributors:profile", args=[community.pk])]
    for code, _name in django_settings.LANGUAGES:
        with translation.override(code):
            start.append(reverse("community:help"))
    queue, seen, checked = deque(start), set(start), []
    counting, counting_anchors = reverse("dashboard:how_we_count"), set()  # the #anchors of links to "How we count"
    while queue and len(checked) < 150:
        url = queue.popleft()
        response = client.get(url)
        if response.status_code in (301, 302):
            continue
        assert response.status_code == 200, f"{url} answered {response.status_code}"
        if not response["Content-Type"].startswith("text/html"):
            continue
        page = response.content.decode()
        assert f'href="{TRACKER}"' in page, f"{url} has no “report a problem” link"
        assert "Report a problem or suggest an idea" in page or LANGUAGE_PREFIX.match(url)
        checked.append(url)
        for href in HREF.findall(page):
            link, fragment = urldefrag(href)
            if fragment and LANGUAGE_PREFIX.sub("/", link) == counting:
                counting_anchors.add(fragment)
        for link in internal_links(page):
            if link not in seen:
                seen.add(link)
                queue.append(link)
    # The crawl really went through the site: help, participation and contributor pages, in several languages.
    for must in [reverse(name) for name in HELP_PAGES[:-1]] + [reverse("contributors:my-contributions"), "/de/help/"]:
        assert must in checked, must
    # Every link to "How we count" lands on an anchor the page has.
    ids = set(re.findall(r'\sid="([^"]+)"', client.get(counting).content.decode()))
    assert "twelve-months" in counting_anchors and counting_anchors <= ids, counting_anchors - ids


def test_signed_in_pages_offer_the_report_link_too(client, community):
    client.force_login(UserFactory(email="ann@example.org"))
    for name in MY_PAGES:
        page = client.get(reverse(name)).content.decode()
        assert f'href="{TRACKER}"' in page, name


@pytest.mark.parametrize("code", [code for code, _name in django_settings.LANGUAGES])
def test_every_page_renders_in_every_language(client, community, code):
    client.force_login(UserFactory(email="ann@example.org"))
    with translation.override(code):
        urls = [reverse(name) for name in HELP_PAGES + MY_PAGES]
        urls += [
            reverse("contributors:profile", args=[community.pk]),
            reverse("contributors:my-contributions") + "?page=2",
        ]
    for url in urls:
        if code != django_settings.LANGUAGE_CODE:
            assert url.startswith(f"/{code}/"), url
        response = client.get(url)
        assert response.status_code == 200, f"{url}: {response.status_code}"
        page = response.content.decode()
        assert f'<html lang="{code}">' in page, url
        assert f'href="{TRACKER}"' in page
