"""The README's figures are the demo's: seeded on the day the README names, the demo counts exactly
what the README (and its screenshot) says. A change to the demo's data or rules that moves them fails
here, so the README is brought up to date with it (take docs/dashboard.png again too)."""

import re
from datetime import datetime
from pathlib import Path

import pytest
from django.conf import settings

from conversion_points.models import Population
from demo.services import demo_seed
from metrics.selectors import metric_run_current, metrics_summary

README = Path(settings.BASE_DIR) / "README.md"
FIGURES = re.compile(
    r"seeded on (\d+ \w+ \d{4}) it counted ([\d,]+) active contributors\s+\(the screenshot\s+above\),"
    r"\s+([\d,]+) in the sum of areas and ([\d,]+) volunteers since the start"
)


def number(text: str) -> int:
    return int(text.replace(",", ""))


@pytest.mark.django_db
def test_the_readme_figures_are_the_demos_on_the_day_it_names():
    text = " ".join(README.read_text(encoding="utf-8").split())
    found = FIGURES.search(text)
    assert found, "the README names the day its demo figures were taken"
    day = datetime.strptime(found[1], "%d %B %Y").date()
    active, sum_of_areas, ever = (number(found[n]) for n in (2, 3, 4))
    assert f"{active} active contributors" in text.split("## Try it")[0]  # the screenshot's description

    demo_seed(today=day)
    summary = metrics_summary(run=metric_run_current(), day=day, population=Population.VOLUNTEERS)
    assert (summary["active"], summary["sum_of_areas"], summary["contributors_ever"]) == (active, sum_of_areas, ever)
