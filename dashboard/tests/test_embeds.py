"""Baloo's numbers on other sites: the SVG badge, the chart page other sites may frame, and the snippets.

Written as the site that shows them (a README, a wiki, a team page) and as an attacker: a builder
who names an area with markup, someone who guesses scopes, and a site that tries to frame any other
page of Baloo (clickjacking) — only the chart page may be framed.
"""

import re
import xml.etree.ElementTree as ET
from datetime import date

import pytest
from django.test import Client
from django.utils import translation

from activities.models import Source
from conversion_points.models import Area
from conversion_points.tests.factories import (
    ActivityFactory,
    AreaFactory,
    ConversionPointFactory,
    IdentityFactory,
    PersonFactory,
    at,
    the_day_after_sunday,
)
from dashboard.embeds import active_text, badge_text
from metrics.engine import metrics_recompute

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE_NAME = "Sup<script>alert('x')</script>&port \"]]> \x07\x1b[31m"


@pytest.fixture(autouse=True)
def _plain_http(settings):
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP


@pytest.fixture
def computed(db):
    """Support counts SUMO answers: two volunteers (Ann with two accounts), a member of staff and a bot."""
    with the_day_after_sunday():
        sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
        support = AreaFactory(slug="support", name="Support", name_de="Hilfe", target=1500, position=1)
        ConversionPointFactory(
            slug="sumo-answer", area=support, source=sumo, types=["sumo.answer.posted"], name="Answered a question"
        )
        ann = PersonFactory(display_name="Ann Secretname")
        for identity in (
            IdentityFactory(person=ann, value="ann-the-helper"),
            IdentityFactory(person=ann, kind="email", namespace="", value="ann@example.org"),
            IdentityFactory(value="ben-answers"),
            IdentityFactory(value="sam-staff", person=PersonFactory(staff_periods=True)),
            IdentityFactory(value="helper[bot]", person=PersonFactory(is_bot=True)),
        ):
            ActivityFactory(
                source=sumo, type="sumo.answer.posted", identity=identity, occurred_at=at(date(2024, 5, 29))
            )
        yield metrics_recompute()


def svg_of(response) -> ET.Element:
    return ET.fromstring(response.content)


def title_of(root: ET.Element) -> str:
    return root.find(f"{SVG}title").text


def texts_of(root: ET.Element) -> list[str]:
    return [text.text for text in root.iter(f"{SVG}text")]


# --------------------------------------------------------------------------- the badge


def test_the_badge_is_an_accessible_svg_with_the_scopes_count(client, computed):
    response = client.get("/badge/active.svg?scope=area:support")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    root = svg_of(response)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.get("aria-labelledby") == root.find(f"{SVG}title").get("id")
    # Ann counts once however many accounts; staff and bots never.
    assert texts_of(root) == ["Support", "2 active contributors"]
    assert title_of(root) == "Support: 2 active contributors in the 12 months up to June 2, 2024"
    # Everything, a system and a rule have badges too; everything is the default.
    assert texts_of(svg_of(client.get("/badge/active.svg")))[1] == "2 active contributors"
    assert texts_of(svg_of(client.get("/badge/active.svg?scope=all")))[0] == "Baloo"
    assert texts_of(svg_of(client.get("/badge/active.svg?scope=source:sumo"))) == ["SUMO", "2 active contributors"]
    assert texts_of(svg_of(client.get("/badge/active.svg?scope=cp:sumo-answer")))[0] == "Answered a question"


def test_the_badge_agrees_with_the_last_point_of_the_public_series(client, computed):
    for scope in ("all", "area:support", "source:sumo", "cp:sumo-answer"):
        points = client.get("/api/v1/metrics/series/", {"scope": scope}).json()["points"]
        badge = texts_of(svg_of(client.get("/badge/active.svg", {"scope": scope})))[1]
        assert badge == f"{points[-1]['active']} active contributors"


@pytest.mark.parametrize(
    "language, label, text",
    [
        ("en", "Support", "1,234 active contributors"),
        ("de", "Hilfe", "1.234 aktive Beitragende"),
        ("fr", "Support", "1\xa0234 contributeurs actifs"),
        ("es", "Support", "1\xa0234 colaboradores activos"),
    ],
)
def test_the_badge_speaks_the_language_asked_for(client, computed, language, label, text):
    root = svg_of(client.get(f"/badge/active.svg?scope=area:support&lang={language}"))
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == language
    assert texts_of(root)[0] == label
    # Counts are grouped as each language writes them (checked on a larger number than the demo's).
    with translation.override(language):
        assert active_text(1234) == text


def test_the_badge_is_cached_per_run_and_answers_not_modified(client, computed):
    response = client.get("/badge/active.svg?scope=area:support")
    assert response["Cache-Control"] == "public, max-age=300"
    etag = response["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    again = client.get("/badge/active.svg?scope=area:support", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    # Each language and scope is its own badge.
    assert client.get("/badge/active.svg?scope=area:support&lang=de")["ETag"] != etag
    assert client.get("/badge/active.svg?scope=source:sumo")["ETag"] != etag
    # A recompute makes a new one.
    with the_day_after_sunday():
        metrics_recompute()
    assert client.get("/badge/active.svg?scope=area:support", HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_any_site_may_read_the_badge(client, computed):
    response = client.get("/badge/active.svg", HTTP_ORIGIN="https://wiki.example.org")
    assert response["Access-Control-Allow-Origin"] == "*"


def test_a_hostile_area_name_is_text_in_a_badge_that_still_parses(client, computed):
    Area.objects.filter(slug="support").update(name=HOSTILE_NAME, name_en=HOSTILE_NAME)
    response = client.get("/badge/active.svg?scope=area:support")
    assert b"<script" not in response.content and b"\x07" not in response.content and b"\x1b" not in response.content
    root = svg_of(response)  # well-formed XML, whatever the name
    label = texts_of(root)[0]
    assert label.startswith("Sup<script>alert('x')</script>&port") and len(label) <= 40
    assert title_of(root).startswith("Sup<script>")
    assert badge_text("x" * 100) == "x" * 39 + "…"


@pytest.mark.parametrize(
    "query, status",
    [
        ("scope=area:nowhere", 404),
        ("scope=source:../../etc/passwd", 404),
        ("scope=area:<svg onload=alert(1)>", 404),
        ("scope=everything", 404),
        ("scope=", 404),
        ("scope=cp:" + "a" * 5000, 404),
        ("scope=all&lang=xx", 400),
        ("scope=all&lang=<script>", 400),
    ],
)
def test_a_scope_or_language_baloo_does_not_know_is_a_plain_refusal(client, computed, query, status):
    response = client.get(f"/badge/active.svg?{query}")
    assert response.status_code == status
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert b"<" not in response.content


def test_the_badge_waits_for_the_first_recompute(client, db):
    response = client.get("/badge/active.svg")
    assert response.status_code == 503 and response["Content-Type"].startswith("text/plain")


def test_badges_and_the_embed_show_nothing_personal(client, computed):
    answers = [
        client.get(path).content.decode()
        for path in (
            "/badge/active.svg",
            "/badge/active.svg?scope=area:support",
            "/badge/active.svg?scope=cp:sumo-answer",
            "/embed/chart/?scope=area:support",
            "/embed/chart/?scope=source:sumo",
        )
    ]
    for answer in answers:
        for secret in ("Secretname", "ann-the-helper", "ann@example.org", "ben-answers", "sam-staff", "helper[bot]"):
            assert secret not in answer


# --------------------------------------------------------------------------- the page other sites may frame


def frame_ancestors(response) -> str:
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    return policy["frame-ancestors"]


def test_the_embed_page_may_be_framed_by_any_site(client, computed):
    response = client.get("/embed/chart/?scope=area:support")
    assert response.status_code == 200
    assert frame_ancestors(response) == "*"
    assert "X-Frame-Options" not in response
    html = response.content.decode()
    assert '<svg class="weekly-chart weekly-chart-wide"' in html
    assert "2 active contributors" in html
    # Each number links to its rule, and the page links back to the area's page.
    assert 'href="/how-we-count/#active"' in html and 'href="/area/support/"' in html
    # The rest of the policy is the site's own: no inline script, nothing from elsewhere.
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]


def test_the_embed_page_is_in_the_language_of_its_address(client, computed):
    html = client.get("/de/embed/chart/?scope=area:support", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert '<html lang="de">' in html and '<h1 class="embed-title">Hilfe</h1>' in html
    # No redirect by the browser's language: the framing site chose the address.
    assert client.get("/embed/chart/?scope=area:support", HTTP_ACCEPT_LANGUAGE="fr").status_code == 200


def test_an_unknown_scope_in_a_frame_says_so_in_the_frame(client, computed):
    response = client.get("/embed/chart/?scope=area:<script>")
    assert response.status_code == 404
    assert frame_ancestors(response) == "*" and "X-Frame-Options" not in response
    assert "<script>" not in response.content.decode()
    assert "no such area, system or rule" in response.content.decode()


@pytest.mark.parametrize("path", ["/", "/area/support/", "/source/sumo/", "/how-we-count/", "/de/", "/admin/login/"])
def test_every_other_page_still_refuses_to_be_framed(client, computed, settings, path):
    settings.BALOO_PASSWORD_LOGIN = True  # the admin's own sign-in form, as in development
    response = client.get(path)
    assert response.status_code == 200, path
    assert frame_ancestors(response) == "'none'"
    assert response["X-Frame-Options"] == "DENY"


def test_the_admin_and_the_desk_still_refuse_to_be_framed(admin_client, computed):
    for path in ("/admin/", "/desk/"):
        response = admin_client.get(path)
        assert frame_ancestors(response) == "'none'", path
        assert response["X-Frame-Options"] == "DENY", path


def test_a_hostile_scope_name_in_the_embed_is_text(client, computed):
    Area.objects.filter(slug="support").update(name=HOSTILE_NAME, name_en=HOSTILE_NAME)
    html = client.get("/embed/chart/?scope=area:support").content.decode()
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)" in html


# --------------------------------------------------------------------------- rate limits


BADGES = [f"/badge/active.svg?scope={scope}&lang={language}"
          for scope in ("all", "area:support", "source:sumo", "cp:sumo-answer") for language in ("en", "de", "fr", "es")]


def test_one_address_cannot_flood_the_badge_or_the_chart(computed, settings):
    settings.BALOO_RATE_LIMITS = {**settings.BALOO_RATE_LIMITS, "embed": "4/m"}
    flooder = Client(REMOTE_ADDR="203.0.113.7")
    assert [flooder.get(path).status_code for path in BADGES[:4]] == [200] * 4

    badge = flooder.get("/badge/active.svg?scope=area:support", HTTP_ORIGIN="https://readme.example")
    chart = flooder.get("/de/embed/chart/?scope=area:support")

    assert badge.status_code == 429 and int(badge["Retry-After"]) >= 1
    assert "Too many requests" in badge.json()["error"] and badge["Access-Control-Allow-Origin"] == "*"
    # The chart counts against the same allowance, and says so in the other site's frame, in its language.
    assert chart.status_code == 429 and int(chart["Retry-After"]) >= 1
    assert frame_ancestors(chart) == "*" and "X-Frame-Options" not in chart
    assert "Von deiner Adresse kamen in kurzer Zeit viele Anfragen" in chart.content.decode()
    # A conditional request counts too: a 304 is cheap, a flood of them is still a flood.
    etag = Client(REMOTE_ADDR="198.51.100.1").get(BADGES[0])["ETag"]
    assert flooder.get(BADGES[0], HTTP_IF_NONE_MATCH=etag).status_code == 429

    other = Client(REMOTE_ADDR="203.0.113.8")
    assert other.get("/badge/active.svg?scope=area:support").status_code == 200
    assert other.get("/de/embed/chart/?scope=area:support").status_code == 200


def test_the_default_limit_lets_a_page_of_badges_through(computed, django_assert_max_num_queries):
    """A wiki page with every scope's badge in every language, and every area's chart, loaded ten times
    over from one office address within a minute; then again from the browsers' caches."""
    office = Client(REMOTE_ADDR="192.0.2.10")
    pages = [*BADGES, "/embed/chart/?scope=area:support", "/de/embed/chart/?scope=source:sumo"] * 10

    assert {office.get(path).status_code for path in pages} == {200}

    etags = {path: office.get(path)["ETag"] for path in BADGES}
    for path, etag in etags.items():
        # Revalidating costs the scope's look-up; the limit adds no query.
        with django_assert_max_num_queries(2):
            assert office.get(path, HTTP_IF_NONE_MATCH=etag).status_code == 304


# --------------------------------------------------------------------------- "use these numbers elsewhere"


def textarea(html: str, name: str) -> str:
    return re.search(rf'<textarea id="reuse-{name}"[^>]*>(.*?)</textarea>', html, re.S).group(1)


def test_area_and_source_pages_give_the_badge_and_the_frame_to_copy(client, computed):
    html = client.get("/area/support/").content.decode()
    assert "Use these numbers elsewhere" in html
    assert textarea(html, "badge") == (
        "&lt;img src=&quot;http://testserver/badge/active.svg?scope=area%3Asupport&quot; "
        "alt=&quot;Active contributors in Support, counted by Baloo&quot;&gt;"
    )
    assert textarea(html, "embed").startswith(
        "&lt;iframe src=&quot;http://testserver/embed/chart/?scope=area%3Asupport&quot;"
    )
    assert '<img src="http://testserver/badge/active.svg?scope=area%3Asupport"' in html
    html = client.get("/de/source/sumo/").content.decode()
    assert "http://testserver/badge/active.svg?scope=source%3Asumo&amp;amp;lang=de" in textarea(html, "badge")
    assert "http://testserver/de/embed/chart/?scope=source%3Asumo" in textarea(html, "embed")


def test_the_snippets_use_the_sites_address_not_the_host_a_request_names(computed, settings):
    settings.BALOO_SITE_URL = "https://baloo.example.org"
    settings.ALLOWED_HOSTS = ["testserver", "evil.example"]
    html = Client(HTTP_HOST="evil.example").get("/area/support/").content.decode()
    assert "evil.example" not in textarea(html, "badge") + textarea(html, "embed")
    assert "https://baloo.example.org/badge/active.svg" in textarea(html, "badge")


def test_a_hostile_area_name_is_escaped_in_the_snippet_and_again_on_the_page(client, computed):
    Area.objects.filter(slug="support").update(name=HOSTILE_NAME, name_en=HOSTILE_NAME)
    html = client.get("/area/support/").content.decode()
    snippet = textarea(html, "badge")
    # The snippet a site copies has the name escaped as HTML; the page shows that text, escaped again.
    assert "&amp;lt;script&amp;gt;alert(&amp;#x27;x&amp;#x27;)" in snippet
    assert "</textarea>" not in snippet and "<script>alert" not in html


def test_without_a_site_address_one_visitors_host_is_never_served_to_another(computed, settings):
    """The whole-page cache is per host: a page asked for at an internal name must not hand that
    name to every later visitor's snippets."""
    settings.BALOO_SITE_URL = ""
    settings.ALLOWED_HOSTS = ["baloo.example.org", "internal.lan"]
    Client(HTTP_HOST="internal.lan").get("/area/support/")
    html = Client(HTTP_HOST="baloo.example.org").get("/area/support/").content.decode()
    assert "internal.lan" not in html
    assert "baloo.example.org/badge/active.svg" in textarea(html, "badge")
