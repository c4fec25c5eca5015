"""The dashboard's words: counts take the plural form of the reader's language (one volunteer, two
volunteers), and the worked example on "How we count" follows the installed rules, so it can never
contradict them (with the demo loaded, the demo's own)."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import ngettext

from activities.models import Source
from community.tests.factories import ingest, record
from contributors.models import Identity
from conversion_points.contributions import areas_of_persons, is_active
from conversion_points.models import ConversionPoint
from conversion_points.services import config_load
from conversion_points.tests.factories import ActivityFactory, AreaFactory, ConversionPointFactory, IdentityFactory
from dashboard.views import EXAMPLE
from demo.services import demo_config
from metrics.engine import metrics_recompute

pytestmark = pytest.mark.django_db

LANGUAGES = [code for code, _name in django_settings.LANGUAGES]
# The headline's words after its number, and "since the start", singular then plural, per language.
HEADLINE = {
    "en": ("volunteer contributed in the 12 months", "volunteers contributed in the 12 months"),
    "de": ("Ehrenamtliche Person hat in den 12 Monaten", "Ehrenamtliche haben in den 12 Monaten"),
    "fr": ("bénévole a contribué au cours des 12 mois", "bénévoles ont contribué au cours des 12 mois"),
    "es": ("voluntario contribuyó en los 12 meses", "voluntarios contribuyeron en los 12 meses"),
}
EVER = {
    "en": ("1 volunteer has contributed since the start.", "2 volunteers have contributed since the start."),
    "de": ("1 ehrenamtliche Person hat seit dem Start beigetragen.", "2 Ehrenamtliche haben seit dem Start beigetragen."),
    "fr": ("1 bénévole a contribué depuis le début.", "2 bénévoles ont contribué depuis le début."),
    "es": ("1 voluntario ha contribuido desde el principio.", "2 voluntarios han contribuido desde el principio."),
}


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP
    cache.clear()
    with translation.override("en"):
        yield
    cache.clear()


def volunteers(how_many: int) -> None:
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    ConversionPointFactory(slug="answer", area=AreaFactory(slug="support", name="Support"), source=sumo, types=["sumo.answer.posted"])
    yesterday = timezone.now() - timedelta(days=1)
    for n in range(how_many):
        ActivityFactory(source=sumo, type="sumo.answer.posted", identity=IdentityFactory(value=f"helper-{n}"), occurred_at=yesterday)
    metrics_recompute()


def page(client, code: str, name: str) -> str:
    with translation.override(code):
        url = reverse(name)
    return " ".join(client.get(url).content.decode().split())


@pytest.mark.parametrize("code", LANGUAGES)
@pytest.mark.parametrize("how_many", [1, 2])
def test_the_headline_says_one_volunteer_or_two_volunteers_in_every_language(client, code, how_many):
    volunteers(how_many)
    home = page(client, code, "home")
    singular, plural = HEADLINE[code]
    assert (singular in home, plural in home) == (how_many == 1, how_many == 2)
    assert EVER[code][how_many - 1] in home


# Every plural message of the dashboard, the contributor pages, accounts and the staff API that once
# had one form, with its forms in each language (what the catalogues must answer for 1 and for 2).
PLURALS = json.loads((django_settings.BASE_DIR / "dashboard" / "tests" / "plurals.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("code", ["de", "fr", "es"])
@pytest.mark.parametrize("entry", PLURALS, ids=[entry["msgid"][:40] for entry in PLURALS])
def test_each_count_has_its_singular_and_plural_in_every_language(code, entry):
    with translation.override(code):
        forms = [ngettext(entry["msgid"], entry["msgid_plural"], n) for n in (1, 2)]
    assert forms == entry[code]
    with translation.override("en"):
        assert [ngettext(entry["msgid"], entry["msgid_plural"], n) for n in (1, 2)] == [entry["msgid"], entry["msgid_plural"]]


# ------------------------------------------------------------------------------ the worked example


def test_the_worked_example_names_two_of_the_demos_rules_that_count_as_active(client):
    config_load(config=demo_config())
    text = page(client, "en", "dashboard:how_we_count")
    counting = [
        point
        for point in ConversionPoint.objects.select_related("area", "source")
        if f"“{point.name}”, a rule of {point.area.name}" in text
    ]
    assert len(counting) == 2
    first, second = counting
    assert {first.level, second.level} <= {ConversionPoint.Level.ACTIVE, ConversionPoint.Level.CORE}
    assert first.area != second.area and first.source != second.source
    assert f"in two areas — {first.area.name} and {second.area.name} —" in text or f"in two areas — {second.area.name} and {first.area.name} —" in text


def concrete(glob: str) -> str:
    """A container matching a rule's glob."""
    return "" if glob in ("", "*") else glob.replace("*", "x").replace("?", "x")


def test_ann_lives_the_example_under_the_demos_rules(client):
    """Ann's two contributions, made as the example tells, under the demo's rules: new and active the
    first week, active in both areas at the last Sunday the table shows, lapsed the Sunday after."""
    config_load(config=demo_config())
    text = page(client, "en", "dashboard:how_we_count")
    points = [
        p for p in ConversionPoint.objects.select_related("area", "source") if f"“{p.name}”, a rule of {p.area.name}" in text
    ]
    first, second = sorted(points, key=lambda p: text.index(f"“{p.name}”"))
    ingest(
        record(first.source.slug, {"email": "ann@example.org"}, first.types[0], f"{EXAMPLE['first']}T10:00:00Z", container=concrete(first.container)),
        record(second.source.slug, {"email": "ann@work.example"}, second.types[0], f"{EXAMPLE['second']}T10:00:00Z", container=concrete(second.container)),
    )
    # She claims her second address: one person.
    ann = Identity.objects.get(value="ann@example.org").person
    Identity.objects.filter(value="ann@work.example").update(person=ann)

    def areas_active(day: date) -> set[str]:
        found = areas_of_persons(person_ids=[ann.pk], end=day)[ann.pk]
        return {slug for slug, (_first, last) in found.items() if is_active(last, day=day)}

    assert areas_active(EXAMPLE["first_sunday"]) == {first.area.slug}
    found = areas_of_persons(person_ids=[ann.pk], end=EXAMPLE["first_sunday"])[ann.pk]
    assert found[first.area.slug][0] >= datetime.combine(EXAMPLE["first_week_start"], datetime.min.time(), tzinfo=UTC)
    assert areas_active(EXAMPLE["last_active_sunday"]) == {second.area.slug}
    assert areas_active(EXAMPLE["second"] + timedelta(days=1)) == {first.area.slug, second.area.slug}
    assert areas_active(EXAMPLE["lapsed_sunday"]) == set()


def test_without_rules_that_count_the_example_names_none(client):
    text = page(client, "en", "dashboard:how_we_count")
    assert "an activity an active rule of one area counts" in text
    assert "a rule of" not in text
