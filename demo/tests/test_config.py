"""The demo's configuration is a configuration-as-code file like any other, and it fits the generated records."""

from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command

from activities.models import Source
from conversion_points.containers import container_matches
from conversion_points.models import Area, ConversionPoint
from conversion_points.services import config_dump, config_load
from demo.generator import BUGZILLA, COMPONENTS, GITHUB, REPOS, SUMO, SUMO_PRODUCTS, demo_records
from demo.services import CONFIG_PATH, demo_config


@pytest.mark.django_db
def test_the_demo_configuration_loads_with_load_config_and_dumps_back_to_the_same_state():
    out = StringIO()
    call_command("load_config", str(CONFIG_PATH), stdout=out)

    assert out.getvalue().strip() == "sources: 3  areas: 6  conversion points: 23"
    assert list(Area.objects.order_by("position").values_list("slug", flat=True)) == [
        area["slug"] for area in demo_config()["areas"]
    ]
    assert not Source.objects.exclude(schedule_minutes=0).exists()  # invented data is never synced
    dumped = config_dump()
    config_load(config=dumped)
    assert config_dump() == dumped


def test_the_configuration_names_the_sources_repositories_and_products_the_records_use():
    sources = {source["slug"]: source for source in demo_config()["sources"]}

    assert set(sources) == {GITHUB, BUGZILLA, SUMO}
    assert sources[GITHUB]["options"]["repos"] == [repo for repos in REPOS.values() for repo in repos]
    assert sources[SUMO]["options"]["products"] == sorted(set(SUMO_PRODUCTS))
    products = {component.split("::")[0] for components in COMPONENTS.values() for component in components}
    assert products <= set(sources[BUGZILLA]["options"]["products"])


def test_every_conversion_point_matches_some_of_the_records_and_every_record_has_a_source():
    records = list(demo_records(end=date(2025, 6, 1), people=300))
    slugs = {source["slug"] for source in demo_config()["sources"]}
    assert {record["source"] for record in records} == slugs

    points = [point for area in demo_config()["areas"] for point in area["conversion_points"]]
    assert len(points) == 23
    for point in points:
        assert any(
            record["source"] == point["source"]
            and record["type"] in point["types"]
            and container_matches(point["container"], record["container"])
            for record in records
        ), f"conversion point {point['slug']} matches none of the demo's records"
    assert {point["level"] for point in points} == set(ConversionPoint.Level)


def test_the_demo_writes_sumo_containers_as_the_connector_and_the_docs_do():
    """`product::locale` (CONTRACTS §3, docs/integrating-a-system.md): a rule written from the docs matches the demo."""
    records = [record for record in demo_records(end=date(2025, 6, 1), people=300) if record["source"] == SUMO]

    assert records
    for record in records:
        product, separator, locale = record["container"].partition("::")
        assert separator and product in SUMO_PRODUCTS and "/" not in record["container"], record["container"]
        assert record["data"] == {"product": product, "locale": locale}
    assert any(container_matches("firefox::*", record["container"]) for record in records)
    assert any(container_matches("*::de", record["container"]) for record in records)
    sumo_points = [point for area in demo_config()["areas"] for point in area["conversion_points"] if point["source"] == SUMO]
    assert all("/" not in point["container"] for point in sumo_points)
