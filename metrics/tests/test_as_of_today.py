"""Numbers are never stated as of a day that has not happened (CONTRACTS §5, BRIEF "As of today").

The weekly series holds complete weeks, each dated on its Sunday; the summary and the dashboard's
headline count as of today: active in the 365 days ending today, new in the 7 days ending today.
"""

from datetime import date, timedelta

import pytest
import time_machine

from contributors.models import StaffPeriod
from conversion_points.tests.factories import IdentityFactory, PersonFactory, at
from metrics.engine import cache_clear, metrics_recompute
from metrics.models import MetricPoint

SUNDAY = date(2026, 11, 29)
pytestmark = pytest.mark.usefixtures("plain_http")


def summary(client, day: date | None = None) -> dict:
    response = client.get("/api/v1/metrics/summary/" + (f"?date={day.isoformat()}" if day else ""))
    assert response.status_code == 200, response.content
    return response.json()


def series(client, scope: str = "all") -> list[dict]:
    return client.get(f"/api/v1/metrics/series/?scope={scope}").json()["points"]


def test_the_week_in_progress_is_no_point_and_the_summary_is_dated_today(client, world):
    """Friday 2026-12-04 (the reported case): the series stops at the last complete Sunday; the
    summary counts the 365 days ending Friday, so 2025-12-05 and 2025-12-06 still count."""
    world(at(date(2025, 12, 5)))
    world(at(date(2025, 12, 6)))
    world(at(date(2025, 12, 4)))  # 365 days before Friday: out of its window
    world(at(date(2026, 12, 4), 8))  # this morning
    with time_machine.travel(at(date(2026, 12, 4), 10), tick=False):
        run = metrics_recompute()
        assert run.latest_week == SUNDAY
        assert series(client)[-1]["date"] == "2026-11-29"
        assert not MetricPoint.objects.filter(date__gt=SUNDAY).exists()
        today = summary(client)
        assert (today["date"], today["active"], today["new"]) == ("2026-12-04", 3, 1)
        assert today["areas"][0]["active"] == 3 and today["sources"][0]["active"] == 3
        page = client.get("/").content.decode()
        start = page.index('class="headline"')
        headline = page[start : page.index("</section>", start)]
        assert "3" in headline and "in the 12 months up to Dec. 4, 2026," in headline


def test_around_sunday_midnight(client, world):
    """Sunday 23:59 the week is still in progress; at Monday 00:00 it is a point, equal to Sunday's summary."""
    ann = IdentityFactory()
    world(at(SUNDAY - timedelta(days=30)), ann)
    world(at(SUNDAY, 23, 30))  # a newcomer, late on Sunday
    with time_machine.travel(at(SUNDAY, 23, 59), tick=False):
        run = metrics_recompute()
        assert run.latest_week == SUNDAY - timedelta(days=7)
        assert series(client)[-1] == {
            "date": "2026-11-22",
            "active": 1,
            "new": 0,
            "lapsed": 0,
            "levels": {"casual": 0, "active": 1, "core": 0},
        }
        sunday = summary(client)
        assert (sunday["date"], sunday["active"], sunday["new"]) == ("2026-11-29", 2, 1)
    with time_machine.travel(at(SUNDAY + timedelta(days=1), 0, 0), tick=False):
        run = metrics_recompute(incremental=True)  # the latest week moves on by one
        assert run.stats["mode"] == "incremental"
        assert run.latest_week == SUNDAY
        point = series(client)[-1]
        assert (point["date"], point["active"], point["new"]) == ("2026-11-29", 2, 1)
        assert summary(client, SUNDAY) | {"contributors_ever": None} == sunday | {"contributors_ever": None}
        monday = summary(client)
        assert (monday["date"], monday["active"], monday["new"]) == ("2026-11-30", 2, 1)
        incremental = series(client)
        cache_clear()
        metrics_recompute()
        assert series(client) == incremental


def test_around_the_365_day_edge(client, world):
    """A contribution exactly 364 days before today counts; 365 days before does not."""
    today = date(2026, 12, 2)
    world(at(today - timedelta(days=364), 0, 0))
    world(at(today - timedelta(days=365), 23, 59))
    world(at(today - timedelta(days=6), 0, 0))  # new this week (the 7 days ending today)
    world(at(today - timedelta(days=7), 23, 59))  # not new
    with time_machine.travel(at(today, 0, 1), tick=False):
        metrics_recompute()
        now = summary(client)
        assert (now["active"], now["new"]) == (3, 1)
        yesterday = summary(client, today - timedelta(days=1))
        assert (yesterday["date"], yesterday["active"], yesterday["new"]) == ("2026-12-01", 4, 2)


def test_a_contribution_made_today_shows_today(client, world):
    world(at(date(2026, 6, 1)))
    with time_machine.travel(at(date(2026, 12, 3), 9), tick=False):
        metrics_recompute()
        assert summary(client)["active"] == 1
        world(at(date(2026, 12, 3), 8, 59))
        metrics_recompute()
        now = summary(client)
        assert (now["date"], now["active"], now["new"]) == ("2026-12-03", 2, 1)


def test_a_day_that_has_not_happened_is_refused(client, world):
    world(at(date(2026, 11, 1)))
    with time_machine.travel(at(SUNDAY, 23, 59), tick=False):
        metrics_recompute()
        response = client.get("/api/v1/metrics/summary/?date=2026-11-30")
        assert response.status_code == 400
        message = response.json()["date"][0]
        assert "2026-11-30" in message and "2026-11-29" in message
        assert client.get("/api/v1/metrics/summary/?date=2026-11-29").status_code == 200


def test_the_summary_and_the_weekly_series_agree_on_every_sunday(client, world):
    staff = IdentityFactory(person=PersonFactory())
    StaffPeriod.objects.create(person=staff.person, staff_from=None, staff_until=None, origin="admin")
    bot = IdentityFactory(person=PersonFactory(is_bot=True))
    people = [IdentityFactory() for _ in range(4)]
    start = date(2025, 1, 6)
    for number in range(60):
        world(at(start + timedelta(days=11 * number), number % 24), people[number % 4] if number % 5 else None)
    world(at(start + timedelta(days=40)), staff)
    world(at(start + timedelta(days=41)), bot)
    with time_machine.travel(at(date(2026, 12, 4)), tick=False):
        metrics_recompute()
        for staff_flag in ("", "&staff=include"):
            points = client.get(f"/api/v1/metrics/series/?scope=area:support{staff_flag}").json()["points"]
            for point in points[::5] + points[-1:]:
                day = point["date"]
                data = client.get(f"/api/v1/metrics/summary/?date={day}{staff_flag}").json()
                assert (data["areas"][0]["active"], data["areas"][0]["new"]) == (point["active"], point["new"]), day
                assert data["active"] == point["active"]


def test_a_day_before_any_record_can_be_dated_is_refused_saying_from_when(client, world):
    world(at(date(2025, 12, 5)))
    metrics_recompute()
    for day in ("0001-01-01", "1969-12-31"):
        response = client.get(f"/api/v1/metrics/summary/?date={day}")
        assert response.status_code == 400, (day, response.content)
        assert "1970-01-01" in response.json()["date"][0]
    assert client.get("/api/v1/metrics/summary/?date=1970-01-01").json()["active"] == 0
    assert client.get("/api/v1/metrics/series/?scope=all&start=0001-01-01").status_code in (200, 400)
