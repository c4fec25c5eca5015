"""How we count: the one page on counting. Every link to it lands on an anchor it has; the help's old address
redirects to it, in its language; it speaks every language."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from dashboard.views import EXAMPLE

pytestmark = pytest.mark.django_db

TEMPLATES = Path(django_settings.BASE_DIR) / "templates"
# A link to the page in a template: {% url 'dashboard:how_we_count' %}#anchor, or {{ rules }}#anchor where
# the template named the page `rules`.
LINK = re.compile(r"""(?:\{% url 'dashboard:how_we_count' %\}|\{\{ rules \}\})#([\w-]+)""")
# The anchors of the two pages it replaces, which links from outside may still use.
OLD_ANCHORS = [
    # dashboard/how_we_count.html
    *("active", "new", "lapsed", "levels", "sum-of-areas", "overlap", "moved", "projection", "goal", "who"),
    # community/how_baloo_counts.html
    *("contributions", "twelve-months", "de-duplication", "staff-and-bots", "example"),
]


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP


def anchors_linked_from_templates() -> set[str]:
    found = set()
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        if "{{ rules }}#" in text:
            assert "{% url 'dashboard:how_we_count' as rules %}" in text, template
        found.update(LINK.findall(text))
    return found


def test_the_page_has_every_anchor_the_site_links_to(client):
    linked = anchors_linked_from_templates()
    # The scan finds the dashboard's links and the help's (FAQ, my contributions).
    assert {"active", "sum-of-areas", "goal", "projection", "moved", "overlap", "twelve-months", "lapsed"} <= linked
    page = client.get(reverse("dashboard:how_we_count")).content.decode()
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    assert sorted(linked - set(ids)) == []
    assert sorted(set(OLD_ANCHORS) - set(ids)) == []


def test_nothing_links_to_the_old_address():
    for template in TEMPLATES.rglob("*.html"):
        assert "community:how-baloo-counts" not in template.read_text(encoding="utf-8"), template


@pytest.mark.parametrize("code", [code for code, _name in django_settings.LANGUAGES])
def test_the_old_address_redirects_permanently_in_its_language(client, code):
    with translation.override(code):
        old, new = reverse("community:how-baloo-counts"), reverse("dashboard:how_we_count")
    if code != django_settings.LANGUAGE_CODE:
        assert old == f"/{code}/help/how-baloo-counts/" and new == f"/{code}/how-we-count/"
    response = client.get(old)
    assert response.status_code == 301 and response["Location"] == new


def test_the_old_english_address_redirects_to_the_english_page(client):
    response = client.get("/help/how-baloo-counts/")
    assert response.status_code == 301 and response["Location"] == "/how-we-count/"


@pytest.mark.parametrize("code", [code for code, _name in django_settings.LANGUAGES])
def test_the_page_renders_in_every_language_as_a_help_page(client, code):
    with translation.override(code):
        url = reverse("dashboard:how_we_count")
        title, help_link = _("How we count"), _("How Baloo counts")
    response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert f'<html lang="{code}">' in page and f"<h1>{title}</h1>" in page
    # The help navigation, with this page marked as the current one.
    assert f'<a href="{url}" aria-current="page">{help_link}</a>' in page
    if code != django_settings.LANGUAGE_CODE:
        assert "Every number Baloo shows" not in page and "Ann makes her first contribution" not in page


def test_the_worked_example_dates_follow_the_twelve_month_rule(client):
    assert EXAMPLE["first_sunday"].weekday() == 6 and EXAMPLE["lapsed_sunday"].weekday() == 6
    assert EXAMPLE["first_week_start"] == EXAMPLE["first_sunday"] - timedelta(days=6) <= EXAMPLE["first"]
    assert EXAMPLE["first_window_start"] == EXAMPLE["first_sunday"] - timedelta(days=364)
    assert EXAMPLE["last_active_window_start"] == EXAMPLE["last_active_sunday"] - timedelta(days=364)
    assert EXAMPLE["last_active_window_start"] <= EXAMPLE["second"]
    assert EXAMPLE["lapsed_window_start"] == EXAMPLE["lapsed_sunday"] - timedelta(days=364) > EXAMPLE["second"]
    assert EXAMPLE["lapsed_sunday"] - EXAMPLE["last_active_sunday"] == timedelta(days=7)
    page = client.get(reverse("dashboard:how_we_count")).content.decode()
    assert "March 5, 2024" in page and "June 15, 2025" in page
