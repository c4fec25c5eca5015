"""Mozilla's real-world configuration (docs/examples/mozilla.json): it loads with `load_config`, has the
shape of Mozilla's 2014 conversion-points tables, and the demo can seed a community that fits it."""

import json
from datetime import date
from io import StringIO
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from activities.connectors import CONNECTORS, SourceError
from activities.models import Activity, Source
from contributors.models import Person
from conversion_points.containers import container_matches
from conversion_points.models import Area, ConversionPoint, Population
from conversion_points.rules import rule_condition
from conversion_points.services import ConfigError, config_dump, config_load
from demo.configured import configured_records
from demo.generator import demo_end_date
from demo.services import CONFIG_PATH, demo_seed
from metrics.selectors import metric_run_current, metrics_summary

EXAMPLES = Path(settings.BASE_DIR) / "docs" / "examples"
MOZILLA = EXAMPLES / "mozilla.json"
AREAS = ["support", "localization", "coding", "qa", "documentation", "reps", "community-forum"]
LANGUAGES = {"en", "de", "fr", "es"}
# The activity types each kind writes: the shipped connectors' (docs/integrating-a-system.md, "What
# ships") and those agreed for the new ones (git, discourse, pontoon, reps).
TYPES = {
    "github": {
        "github.issue.opened", "github.pull_request.opened", "github.pull_request.merged",
        "github.review.submitted", "github.comment.created", "github.commit.authored",
    },
    "bugzilla": {"bugzilla.bug.filed", "bugzilla.comment.created", "bugzilla.attachment.created", "bugzilla.bug.fixed"},
    "sumo": {"sumo.question.asked", "sumo.answer.posted", "sumo.answer.solution", "sumo.revision.created"},
    "git": {"git.commit.authored", "git.commit.committed", "git.merge.authored"},
    "discourse": {"discourse.topic.created", "discourse.post.created", "discourse.answer.accepted", "discourse.like.given"},
    "pontoon": {"pontoon.translation.submitted", "pontoon.translation.approved", "pontoon.translation.rejected"},
    "reps": {"reps.activity.reported", "reps.event.organized"},
}
PEOPLE = 300


def mozilla() -> dict:
    return json.loads(MOZILLA.read_text(encoding="utf-8"))


def points(config: dict) -> list[dict]:
    return [point for area in config["areas"] for point in area["conversion_points"]]


@pytest.mark.django_db
def test_the_mozilla_example_loads_with_load_config_twice_to_the_same_state_and_dumps_back():
    out = StringIO()
    call_command("load_config", str(MOZILLA), stdout=out)
    assert out.getvalue().strip() == "sources: 8  areas: 7  conversion points: 26"
    loaded = config_dump()

    call_command("load_config", str(MOZILLA), stdout=StringIO())
    assert config_dump() == loaded
    assert (Source.objects.count(), Area.objects.count(), ConversionPoint.objects.count()) == (8, 7, 26)
    config_load(config=loaded)
    assert config_dump() == loaded
    assert list(Area.objects.order_by("position").values_list("slug", flat=True)) == AREAS
    assert Area.objects.get(slug="localization").name_de == "Lokalisierung"


def test_every_area_has_rules_at_the_three_levels_a_target_and_names_in_four_languages():
    config = mozilla()

    assert [area["slug"] for area in config["areas"]] == AREAS
    for area in config["areas"]:
        assert {point["level"] for point in area["conversion_points"]} == {"casual", "active", "core"}, area["slug"]
        assert area["target"] > 0
        assert set(area["name"]) == set(area["description"]) == LANGUAGES, area["slug"]
        for point in area["conversion_points"]:
            assert set(point["name"]) == set(point["recognition"]) == LANGUAGES, point["slug"]
            assert point["next_step_url"].startswith("https://")
            assert point["source"] in area["sources"]


def test_every_rule_names_types_its_source_kind_writes():
    """A misspelt type (`sumo.answer.posted` written `sumo.answers.posted`) would match nothing, silently."""
    kinds = {source["slug"]: source["kind"] for source in mozilla()["sources"]}

    assert set(kinds.values()) == set(TYPES)
    for point in points(mozilla()):
        assert set(point["types"]) <= TYPES[kinds[point["source"]]], point["slug"]


def test_mdn_is_the_documentation_area_on_github_with_content_and_translated_content():
    config = mozilla()
    sources = {source["slug"]: source for source in config["sources"]}
    documentation = next(area for area in config["areas"] if area["slug"] == "documentation")

    assert documentation["sources"] == ["github-mdn"]
    assert sources["github-mdn"]["kind"] == "github"
    assert sources["github-mdn"]["options"]["repos"] == ["mdn/content", "mdn/translated-content"]
    # Both GitHub sources read the same accounts: a login is one person in either.
    assert sources["github-mdn"]["account_namespace"] == sources["github-mozilla"]["account_namespace"] == "github"
    for repo in ("mdn/content", "mdn/translated-content"):
        levels = {
            point["level"] for point in documentation["conversion_points"] if container_matches(point["container"], repo)
        }
        assert {"active", "core"} <= levels, repo


@pytest.mark.parametrize("path", [MOZILLA, CONFIG_PATH], ids=["mozilla", "demo"])
def test_sources_keep_secrets_out_and_point_each_connector_where_it_expects(path):
    """Only `BALOO_TOKEN_…` variables name tokens, and a base URL is the very address the connector
    adds its API paths to (`https://bugzilla.mozilla.org`, not `…/rest`, or it would ask for `/rest/rest/bug`)."""
    for item in json.loads(path.read_text(encoding="utf-8"))["sources"]:
        assert all(name.startswith("BALOO_TOKEN_") for name in item.get("token_env", "").split(",") if name)
        connector = CONNECTORS.get(item["kind"])
        if connector is None or not item.get("base_url"):
            continue
        try:
            # A client that is never used: only the default address is asked for (no token, no request).
            unused = SimpleNamespace(pool=SimpleNamespace(tokens=[]))
            expected = connector(Source(**{**item, "options": item.get("options", {})}), client=unused).default_base_url()
        except SourceError:
            continue  # a kind whose every instance has its own address (a Discourse forum)
        assert item["base_url"] == expected, item["slug"]


def test_the_configured_community_fits_every_rule_and_is_the_same_each_time():
    config = mozilla()
    end = date(2025, 6, 1)
    records = list(configured_records(config=config, end=end, people=PEOPLE))

    assert records == list(configured_records(config=config, end=end, people=PEOPLE))
    assert max(record["occurred_at"] for record in records) <= "2025-06-01T23:59:59Z"
    kinds = {source["slug"]: source["kind"] for source in config["sources"]}
    assert {record["source"] for record in records} == set(kinds)
    for point in points(config):
        assert any(
            record["source"] == point["source"]
            and record["type"] in point["types"]
            and container_matches(point["container"], record["container"])
            for record in records
        ), f"conversion point {point['slug']} matches none of the records"
    for record in records:
        assert record["type"] in TYPES[kinds[record["source"]]]
    # Systems that show user names give no e-mail address; git and Bugzilla give one.
    assert not any("email" in record["actor"] for record in records if kinds[record["source"]] in ("sumo", "discourse", "reps"))
    assert all("email" in record["actor"] for record in records if kinds[record["source"]] in ("git", "bugzilla"))
    assert {record["container"] for record in records if record["source"] == "git-firefox"} == {"mozilla-firefox/firefox"}
    assert {r["container"] for r in records if r["source"] == "github-mdn"} == {"mdn/content", "mdn/translated-content"}


def test_a_rule_over_a_container_the_source_does_not_name_still_gets_records_in_one_that_fits():
    config = {
        "sources": [
            {"slug": "bmo", "kind": "bugzilla", "options": {"products": ["Core"]}},
            {"slug": "gecko", "kind": "git", "options": {"url": "git@example.org:mozilla/gecko.git"}},
            {"slug": "local", "kind": "git", "options": {"url": "/srv/git/website/"}},
            {"slug": "events", "kind": "events"},
        ],
        "areas": [
            {"slug": "testing", "name": "Testing", "conversion_points": [
                {"slug": "tests", "source": "bmo", "types": ["bugzilla.attachment.created"], "container": "Testing::[!a-z]*",
                 "level": "active", "name": "Wrote a test"},
                {"slug": "gecko", "source": "gecko", "types": ["git.commit.authored"], "level": "core", "name": "Landed"},
                {"slug": "site", "source": "local", "types": ["git.commit.authored"], "level": "core", "name": "Site"},
                {"slug": "talk", "source": "events", "types": ["events.talk.given"], "container": "Berlin",
                 "level": "casual", "name": "Gave a talk"},
                {"slug": "off", "source": "events", "types": ["events.stand.staffed"], "enabled": False, "name": "Off"},
            ]},
        ],
    }
    records = list(configured_records(config=config, end=date(2025, 6, 1), people=120))

    containers = {(record["source"], record["type"]): record["container"] for record in records}
    assert container_matches("Testing::[!a-z]*", containers["bmo", "bugzilla.attachment.created"])
    assert containers["gecko", "git.commit.authored"] == "mozilla/gecko"
    assert containers["local", "git.commit.authored"] == "website"
    assert containers["events", "events.talk.given"] == "Berlin"
    assert ("events", "events.stand.staffed") not in containers  # a disabled rule gets nothing


@pytest.mark.django_db
def test_seed_demo_with_the_mozilla_example_fills_every_area_and_never_syncs():
    output = StringIO()
    call_command("seed_demo", people=PEOPLE, config=str(MOZILLA), stdout=output)

    assert "sources: 8\n  areas: 7\n" in output.getvalue()
    assert set(Source.objects.values_list("slug", flat=True)) == {source["slug"] for source in mozilla()["sources"]}
    # The file's sources sync hourly; the demo's invented data must never mix with real data.
    assert not Source.objects.exclude(schedule_minutes=0).exists()
    for point in ConversionPoint.objects.select_related("source"):
        condition = rule_condition(source_id=point.source_id, types=point.types, container=point.container)
        assert Activity.objects.filter(condition).exists(), f"conversion point {point.slug} has no contributions"
    assert set(Activity.objects.values_list("source__kind", flat=True).distinct()) == set(TYPES)

    day = demo_end_date(timezone.now().date())
    summary = metrics_summary(run=metric_run_current(), day=day, population=Population.VOLUNTEERS)
    assert summary["active"] > 0
    assert all(area["active"] > 0 for area in summary["areas"]), summary["areas"]
    assert summary["sum_of_areas"] > summary["active"]  # people contribute in several areas
    assert Person.objects.filter(is_bot=True).count() == 2  # the dependency bots, never counted


@pytest.mark.django_db
def test_seed_demo_with_a_config_that_does_not_load_says_why_and_stores_nothing(tmp_path):
    stolen = mozilla()
    stolen["sources"][0]["token_env"] = "DJANGO_SECRET_KEY"
    (tmp_path / "stolen.json").write_text(json.dumps(stolen), encoding="utf-8")
    (tmp_path / "broken.json").write_text('{"sources": [', encoding="utf-8")
    (tmp_path / "empty.json").write_text('{"sources": [], "areas": []}', encoding="utf-8")

    with pytest.raises(CommandError, match=r"sources\[0\].*DJANGO_SECRET_KEY.*refused.*Nothing was changed"):
        call_command("seed_demo", people=20, config=str(tmp_path / "stolen.json"), stdout=StringIO())
    with pytest.raises(CommandError, match="broken.json is not valid JSON"):
        call_command("seed_demo", people=20, config=str(tmp_path / "broken.json"), stdout=StringIO())
    with pytest.raises(CommandError, match="no area with an enabled conversion point"):
        call_command("seed_demo", people=20, config=str(tmp_path / "empty.json"), stdout=StringIO())
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("seed_demo", people=20, config=str(tmp_path / "missing.json"), stdout=StringIO())
    assert not Source.objects.exists() and not Activity.objects.exists() and not Area.objects.exists()


@pytest.mark.django_db
def test_a_config_given_to_demo_seed_is_loaded_never_synced_and_the_caller_keeps_theirs():
    config = mozilla()
    with pytest.raises(ConfigError):
        demo_seed(today=date(2025, 6, 2), people=10, config={"sources": "none"})

    demo_seed(today=date(2025, 6, 2), people=40, config=config)

    assert config == mozilla()  # the caller's configuration is not changed
    assert not Source.objects.exclude(schedule_minutes=0).exists()
    assert set(Area.objects.values_list("slug", flat=True)) == set(AREAS)  # not the demo's own areas
