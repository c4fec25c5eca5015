"""The public data quality page: each system's figures and who-is-who, each linked to its rule, in four
languages, reachable from every page's footer and from "How we count", and nothing personal on it."""

import re

import pytest
import time_machine

from metrics.tests.quality_history import NOW, PLANTED, quality_history

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(settings):
    settings.SECURE_SSL_REDIRECT = False
    with time_machine.travel(NOW, tick=False):
        yield quality_history()


def page(client, language: str = "en") -> str:
    response = client.get(f"{'' if language == 'en' else '/' + language}/data-quality/")
    assert response.status_code == 200
    return response.content.decode()


def test_each_system_with_its_figures(client, history):
    html = page(client)

    assert "Data quality" in html
    # Bugzilla: succeeded 3 hours ago (less 2 minutes), failed since; six activities; the system's own count.
    bugzilla = html.split('id="source-bmo"')[1].split("</section>")[0]
    assert "2\xa0hours, 58\xa0minutes" in bugzilla
    assert "failed" in bugzilla
    assert ">6<" in bugzilla
    assert "12 reported · 5 stored · 1 rejected · 6 not read yet" in bugzilla
    assert "no author named: 2" in bugzilla and "other reason: 5" in bugzilla and "malformed record: 1" in bugzilla
    # A system fed by imports: its latest activity instead of a sync.
    git = html.split('id="source-git-app"')[1].split("</section>")[0]
    assert "imports and pushes, never synced" in git and "1\xa0day, 2\xa0hours ago" in git
    # Never synced, and paused.
    never = html.split('id="source-discourse"')[1].split("</section>")[0]
    assert "never" in never and "not synced yet" in never and "no sync yet" in never
    assert "(paused)" in html.split('id="source-github-old"')[1].split("</h3>")[0]
    # Who is who.
    assert "75 % (3 of 4 people)" in html
    assert "1 suggested · 1 claimed by contributors" in html


def test_every_figure_links_to_the_rule_that_counts_it(client, history):
    html = page(client)
    targets = set(re.findall(r'href="#(rule-[a-z-]+)"', html))
    defined = set(re.findall(r'id="(rule-[a-z-]+)"', html))
    assert targets and targets <= defined
    assert {"rule-behind", "rule-totals", "rule-rejected", "rule-one-identity", "rule-merges", "rule-bots",
            "rule-placeholders", "rule-staff"} <= targets
    assert 'href="/api/v1/metrics/data-quality/?format=csv"' in html


@pytest.mark.parametrize(("language", "title"), [("de", "Datenqualität"), ("fr", "Qualité des données"), ("es", "Calidad de los datos")])
def test_in_every_language(client, history, language, title):
    html = page(client, language)
    assert f'<html lang="{language}">' in html
    # The page's title is translated once the lead's translations are compiled (locale/ is the lead's).
    assert title in html or "Data quality" in html


def test_nothing_personal_or_remote_on_the_page(client, history):
    html = page(client).lower()
    for planted in PLANTED:
        assert planted.lower() not in html
    assert "server said" not in html and "another sync" not in html


def test_linked_from_the_footer_and_from_how_we_count(client, history):
    assert 'href="/data-quality/"' in client.get("/how-we-count/").content.decode()
    assert client.get("/how-we-count/").content.decode().count('href="/data-quality/"') >= 2  # footer and text


def test_an_empty_site_has_a_page_too(client, settings, db):
    settings.SECURE_SSL_REDIRECT = False
    assert "No system is configured yet." in page(client)
