"""Configuration as code: `load_config` / `dump_config` (sources, areas, conversion points)."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from activities.models import Source
from conversion_points.models import Area, ConversionPoint
from conversion_points.services import ConfigError, config_dump, config_load

pytestmark = pytest.mark.django_db

CONFIG = {
    "sources": [
        {
            "slug": "github-mozilla",
            "kind": "github",
            "name": "GitHub",
            "base_url": "https://api.github.com",
            "options": {"repos": ["mozilla/kitsune"]},
            "token_env": "BALOO_TOKEN_GITHUB",
            "schedule_minutes": 60,
        },
        {"slug": "sumo", "kind": "sumo", "name": "SUMO", "base_url": "https://support.mozilla.org"},
    ],
    "areas": [
        {
            "slug": "support",
            "name": {"en": "Support", "fr": "Assistance", "de": "Hilfe"},
            "target": 1500,
            "conversion_points": [
                {
                    "slug": "sumo-answer",
                    "source": "sumo",
                    "types": ["sumo.answer.posted"],
                    "container": "*",
                    "level": "active",
                    "name": {"en": "Answered a question", "fr": "A répondu à une question"},
                    "recognition": {"en": "Thank you for helping someone today."},
                    "next_step_url": "https://support.mozilla.org/contribute",
                },
                {
                    "slug": "github-kitsune-pr",
                    "source": "github-mozilla",
                    "types": ["github.pull_request.opened", "github.pull_request.merged"],
                    "container": "mozilla/kitsune",
                    "level": "core",
                    "name": "Improved the support site",
                },
            ],
        }
    ],
}


def load(config: dict, tmp_path) -> str:
    path = tmp_path / "baloo.json"
    path.write_text(json.dumps(config))
    out = StringIO()
    call_command("load_config", str(path), stdout=out)
    return out.getvalue()


def test_loading_creates_sources_areas_and_conversion_points(tmp_path):
    out = load(CONFIG, tmp_path)

    assert "sources: 2  areas: 1  conversion points: 2" in out
    github = Source.objects.get(slug="github-mozilla")
    assert (github.kind, github.options, github.token_env, github.schedule_minutes) == (
        "github",
        {"repos": ["mozilla/kitsune"]},
        "BALOO_TOKEN_GITHUB",
        60,
    )
    area = Area.objects.get(slug="support")
    assert area.target == 1500
    point = ConversionPoint.objects.get(slug="github-kitsune-pr")
    assert (point.area, point.source, point.level, point.container) == (area, github, "core", "mozilla/kitsune")
    assert point.types == ["github.pull_request.opened", "github.pull_request.merged"]


def test_names_are_translated(tmp_path):
    load(CONFIG, tmp_path)
    with translation.override("fr"):
        assert Area.objects.get().name == "Assistance"
        assert ConversionPoint.objects.get(slug="sumo-answer").name == "A répondu à une question"
    with translation.override("es"):  # no Spanish given: English is the fallback
        assert Area.objects.get().name == "Support"


def test_loading_twice_changes_nothing(tmp_path):
    load(CONFIG, tmp_path)
    before = config_dump()
    load(CONFIG, tmp_path)
    assert config_dump() == before
    assert (Source.objects.count(), Area.objects.count(), ConversionPoint.objects.count()) == (2, 1, 2)


def test_a_dump_loads_back_to_the_same_state(tmp_path):
    load(CONFIG, tmp_path)
    out = StringIO()
    call_command("dump_config", stdout=out)
    dumped = json.loads(out.getvalue())

    Area.objects.all().delete()
    Source.objects.all().delete()
    load(dumped, tmp_path)

    assert config_dump() == dumped


def test_loading_updates_by_slug(tmp_path):
    load(CONFIG, tmp_path)
    changed = json.loads(json.dumps(CONFIG))
    changed["areas"][0]["target"] = 2000
    changed["areas"][0]["conversion_points"][0]["level"] = "casual"
    load(changed, tmp_path)

    assert Area.objects.get().target == 2000
    assert ConversionPoint.objects.get(slug="sumo-answer").level == "casual"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["areas"][0]["conversion_points"][0].update(source="nope"), "unknown source 'nope'"),
        (lambda c: c["areas"][0]["conversion_points"][0].update(level="heroic"), "level must be one of casual, active, core"),
        (lambda c: c["areas"][0]["conversion_points"][0].update(types="sumo"), "types must be a list of activity types"),
        (lambda c: c["areas"][0].update(name={"xx": "?"}), "unknown language xx"),
        (lambda c: c["areas"][0].update(target="lots"), "target must be a whole number"),
        (lambda c: c["sources"][0].pop("kind"), "needs a kind"),
        (lambda c: c["sources"][0].update(token="ghp_secret"), "unknown field token"),
    ],
)
def test_a_bad_file_names_the_problem_and_changes_nothing(tmp_path, change, message):
    config = json.loads(json.dumps(CONFIG))
    change(config)
    with pytest.raises(CommandError, match=message):
        load(config, tmp_path)
    assert Source.objects.count() == 0 and Area.objects.count() == 0


def test_the_service_rejects_what_is_not_a_configuration():
    with pytest.raises(ConfigError):
        config_load(config=[])
