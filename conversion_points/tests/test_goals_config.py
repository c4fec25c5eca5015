"""Configuration as code, extended compatibly: an area's optional `target_date`, and a top-level `campaigns` list.

Files without them load as before; a dump lists them and loads back to the same state; hostile
values are refused, naming where, and nothing of the file is loaded.
"""

import json
import re
from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import translation

from conversion_points.models import Area, Campaign
from conversion_points.services import ConfigError, config_dump, config_load

pytestmark = pytest.mark.django_db


def config() -> dict:
    return {
        "sources": [{"slug": "sumo", "kind": "sumo", "name": "SUMO"}],
        "areas": [
            {"slug": "support", "name": {"en": "Support", "de": "Hilfe"}, "target": 300, "target_date": "2026-12-31"},
            {"slug": "l10n", "name": "Localization", "target": 80},
        ],
        "campaigns": [
            {
                "slug": "spring-push",
                "name": {"en": "Spring push", "fr": "Élan de printemps"},
                "description": "Answer one question a day.",
                "start": "2026-03-02",
                "end": "2026-03-29",
                "areas": ["support", "l10n"],
            }
        ],
    }


def test_target_dates_and_campaigns_load_and_dump_back_to_the_same_state(tmp_path) -> None:
    counts = config_load(config=config())

    assert counts["campaigns"] == 1
    support = Area.objects.get(slug="support")
    assert support.target_date == date(2026, 12, 31)
    assert Area.objects.get(slug="l10n").target_date is None
    campaign = Campaign.objects.get()
    with translation.override("fr"):
        assert campaign.name == "Élan de printemps"
    assert (campaign.start, campaign.end) == (date(2026, 3, 2), date(2026, 3, 29))
    assert set(campaign.areas.values_list("slug", flat=True)) == {"support", "l10n"}

    dumped = config_dump()
    assert {area["slug"]: area["target_date"] for area in dumped["areas"]} == {"support": "2026-12-31", "l10n": None}
    assert dumped["campaigns"] == [
        {
            "slug": "spring-push",
            "name": {"en": "Spring push", "fr": "Élan de printemps"},
            "description": {"en": "Answer one question a day."},
            "start": "2026-03-02",
            "end": "2026-03-29",
            "areas": ["l10n", "support"],
        }
    ]
    config_load(config=json.loads(json.dumps(dumped)))
    assert config_dump() == dumped


def test_loading_again_updates_by_slug_and_sets_exactly_the_areas_listed() -> None:
    config_load(config=config())
    changed = config()
    changed["campaigns"][0].update(end="2026-04-05", areas=["l10n"])
    changed["areas"][0]["target_date"] = None

    config_load(config=changed)

    campaign = Campaign.objects.get()
    assert campaign.end == date(2026, 4, 5)
    assert list(campaign.areas.values_list("slug", flat=True)) == ["l10n"]
    assert Area.objects.get(slug="support").target_date is None


def test_a_file_without_campaigns_or_target_dates_loads_and_prints_as_before(tmp_path) -> None:
    plain = config()
    del plain["campaigns"]
    del plain["areas"][0]["target_date"]
    path = tmp_path / "baloo.json"
    path.write_text(json.dumps(plain))
    out = StringIO()

    call_command("load_config", str(path), stdout=out)

    assert out.getvalue().strip() == "sources: 1  areas: 2  conversion points: 0"
    assert Campaign.objects.count() == 0


def _with(change) -> dict:
    hostile = config()
    change(hostile)
    return hostile


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["areas"][0].update(target_date="31/12/2026"), "areas[0].target_date: must be a day written YYYY-MM-DD"),
        (lambda c: c["areas"][0].update(target_date="2026-02-30"), "areas[0].target_date: must be a day"),
        (lambda c: c["areas"][0].update(target_date=20261231), "areas[0].target_date: must be a day"),
        (lambda c: c["areas"][0].update(target_date="99999-01-01"), "areas[0].target_date: must be a day"),
        (lambda c: c["campaigns"][0].update(end="2026-02-01"), "campaigns[0]: The last day"),
        (lambda c: c["campaigns"][0].update(end="2036-03-01"), "campaigns[0]: A campaign lasts at most a year"),
        (lambda c: c["campaigns"][0].update(start=None), "campaigns[0]: needs a start and an end"),
        (lambda c: c["campaigns"][0].update(areas=[]), "campaigns[0].areas: give a list of one or more area slugs"),
        (lambda c: c["campaigns"][0].update(areas=["nowhere"]), "campaigns[0].areas: unknown area 'nowhere'"),
        (lambda c: c["campaigns"][0].update(owner="ann"), "campaigns[0]: unknown field owner"),
        (lambda c: c["campaigns"][0].update(slug="<b>"), "campaigns[0]: needs a slug"),
        (lambda c: c["campaigns"][0].update(name=""), "campaigns[0]: needs a name"),
        (lambda c: c["campaigns"][0].update(name="x" * 201), "campaigns[0].name (en)"),
        (lambda c: c["campaigns"][0].update(name={"xx": "Spring"}), "campaigns[0].name: unknown language xx"),
        (lambda c: c.update(campaigns={"slug": "x"}), "\"campaigns\" must be a list"),
        (lambda c: c.update(campaigns=["x"]), "campaigns[0]: must be an object"),
    ],
)
def test_hostile_values_are_refused_naming_where_and_nothing_loads(change, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_load(config=_with(change))

    assert Area.objects.count() == 0 and Campaign.objects.count() == 0


def test_a_name_with_html_is_stored_as_the_text_it_is() -> None:
    hostile = config()
    hostile["campaigns"][0]["name"] = "<img src=x onerror=alert(1)>"

    config_load(config=hostile)

    assert Campaign.objects.get().name == "<img src=x onerror=alert(1)>"
