"""A small community for the roles tests (test_permissions.py) and the staff API's (api/tests/test_staff_api.py)."""

from datetime import UTC, date, datetime, timedelta

from django.contrib.auth import get_user_model

from accounts.roles import BUILDER, STAFF
from accounts.services import user_roles_apply
from activities.models import Activity, Source
from contributors.models import Identity, Person
from conversion_points.models import Area, ConversionPoint
from conversion_points.services import conversion_points_approve

User = get_user_model()
D = date(2026, 3, 15)  # a Sunday


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def roles_world() -> dict:
    """Two areas with a builder each (support: sumo; coding: github-mozilla), staff, and five people:
    Ann new at D, Ben active, Cid lapsed, Dot staff, Bot a bot."""
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    github = Source.objects.create(slug="github-mozilla", kind="github", name="GitHub")
    support = Area.objects.create(slug="support", name="Support")
    coding = Area.objects.create(slug="coding", name="Coding")
    answer = ConversionPoint.objects.create(area=support, slug="sumo-answer", source=sumo, types=["sumo.answer.posted"], name="Answered")
    pr = ConversionPoint.objects.create(
        area=coding, slug="gh-pr", source=github, types=["github.pull_request.opened"], container="mozilla/*", name="Opened a PR"
    )
    conversion_points_approve(points=[answer, pr], by=None)  # as staff approved them
    builder_a = User.objects.create_user("builder-a", "a@example.org")
    builder_b = User.objects.create_user("builder-b", "b@example.org")
    staff = User.objects.create_user("staffer", "staff@example.org")
    user_roles_apply(user=builder_a, roles={BUILDER})
    user_roles_apply(user=builder_b, roles={BUILDER})
    user_roles_apply(user=staff, roles={STAFF})
    support.owners.add(builder_a)
    coding.owners.add(builder_b)
    support.sources.add(sumo)
    coding.sources.add(github)

    def person(name: str, *, email: str, username: str | None = None, **flags: bool) -> Person:
        p = Person.objects.create(display_name=name, **flags)
        Identity.objects.create(person=p, kind="email", value=email)
        if username:
            Identity.objects.create(person=p, kind="username", namespace="github-mozilla", value=username)
        return p

    ann = person("Ann", email="ann@example.org", username="ann")
    ben = person("Ben", email="ben@example.org")
    cid = person("Cid", email="cid@example.org")
    dot = person("Dot", email="dot@example.org")
    dot.staff_periods.create(origin="admin")  # staff since always
    bot = person("Bot", email="bot@example.org", is_bot=True)
    n = iter(range(1000))

    def did(p: Person, source: Source, kind: str, day: date, container: str = "") -> None:
        identity = p.identities.order_by("kind").first()
        Activity.objects.create(source=source, external_id=f"x{next(n)}", type=kind, occurred_at=at(day), identity=identity, container=container)

    did(ann, sumo, "sumo.answer.posted", D - timedelta(days=3))  # new this week
    did(ben, sumo, "sumo.answer.posted", D - timedelta(days=200))  # active, not new
    did(cid, sumo, "sumo.answer.posted", D - timedelta(days=368))  # active at D-7, lapsed at D
    did(dot, sumo, "sumo.answer.posted", D - timedelta(days=10))  # staff
    did(bot, sumo, "sumo.answer.posted", D - timedelta(days=10))  # never counts
    did(ann, github, "github.pull_request.opened", D - timedelta(days=30), "mozilla/kitsune")
    did(ben, github, "github.pull_request.opened", D - timedelta(days=30), "elsewhere/repo")  # container does not match
    return locals()
