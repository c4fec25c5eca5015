"""A built history for the data quality tests: sources synced well, badly and never, one fed by import,
one paused; runs with rejections; the systems' own totals; persons known by one identity or several,
a bot, a placeholder account, staff, a merge to review. Personal data is planted where a careless
page would leak it: a run's error and samples, a rejected item's reason, a payload, a title."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from activities.models import RejectedItem, Source, SyncRun, SyncState
from contributors.models import AccountClaim, Identity, MergeSuggestion, PlaceholderAccount
from conversion_points.tests.factories import (
    ActivityFactory,
    AreaFactory,
    ConversionPointFactory,
    IdentityFactory,
    PersonFactory,
)

NOW = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
# Personal data and remote text planted in the history: none of it may be published.
HIDDEN_SOURCE = "secret-intake"
PLANTED = ("ann.secret@example.org", "annsecret", "Ann Secret", "Server said: ann.secret@example.org")


@dataclass
class History:
    bmo: Source
    sumo: Source
    git: Source
    paused: Source
    never: Source


def _run(source: Source, *, hours_ago: float, status: str = SyncRun.Status.SUCCEEDED, rejected: int = 0,
         reasons: dict | None = None, error: str = "", samples: list | None = None) -> SyncRun:
    started = NOW - timedelta(hours=hours_ago)
    return SyncRun.objects.create(
        source=source, started_at=started, finished_at=started + timedelta(minutes=2), status=status,
        rejected=rejected, rejected_reasons=reasons or {}, error=error, rejections=samples or [],
    )


def quality_history() -> History:
    bmo = Source.objects.create(slug="bmo", kind="bugzilla", name="Bugzilla")
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    git = Source.objects.create(slug="git-app", kind="events", name="App history", schedule_minutes=0)
    paused = Source.objects.create(slug="github-old", kind="github", name="Old GitHub", enabled=False)
    never = Source.objects.create(slug="discourse", kind="bugzilla", name="Never synced")
    # The page lists the sources the dashboard names: those some enabled rule counts.
    area = AreaFactory(slug="everything", name="Everything")
    for source in (bmo, sumo, git, paused, never):
        ConversionPointFactory(slug=f"counts-{source.slug}", area=area, source=source, types=[f"{source.kind}.thing.done"])
    # A source no rule counts (a push-only intake, a webhook's slug): it exists, and nobody outside is told.
    Source.objects.create(slug=HIDDEN_SOURCE, kind="github", name="Hidden intake", enabled=False)

    ann = IdentityFactory(kind=Identity.Kind.EMAIL, namespace="", value=PLANTED[0], name=PLANTED[2])
    IdentityFactory(person=ann.person, kind=Identity.Kind.USERNAME, namespace="sumo", value=PLANTED[1])
    ben, cy = IdentityFactory(), IdentityFactory()
    staff = IdentityFactory(person=PersonFactory(staff_periods=True))
    bot = IdentityFactory(person=PersonFactory(is_bot=True), value="helper[bot]")
    # Kitsune's AnonymousUser is on the default list of placeholder accounts.
    PlaceholderAccount.objects.get_or_create(source_kind="sumo", kind=Identity.Kind.USERNAME, value="anonymoususer")
    anonymous = IdentityFactory(kind=Identity.Kind.USERNAME, namespace="sumo", value="anonymoususer")
    MergeSuggestion.objects.create(identity_a=ben, identity_b=cy, reason=f"same name {PLANTED[2]}", score=0.8)
    AccountClaim.objects.create(user=_user(), source=sumo, username=PLANTED[1], evidence=PLANTED[0])

    def activity(source: Source, external_id: str, identity: Identity, hours_ago: float) -> None:
        ActivityFactory(source=source, external_id=external_id, identity=identity, type=f"{source.kind}.thing.done",
                        occurred_at=NOW - timedelta(hours=hours_ago), title=f"Reported by {PLANTED[0]}",
                        data={"creator": PLANTED[0], "text": PLANTED[3]})

    for number in range(1, 6):
        activity(bmo, f"bug:{number}", ann if number % 2 else ben, 30 + number)
    activity(bmo, "comment:9", cy, 29)
    activity(sumo, "question:1", ann, 50)
    activity(sumo, "answer:1", anonymous, 49)
    activity(sumo, "answer:2", staff, 48)
    activity(git, "commit:abc", bot, 72)
    activity(git, "commit:def", ann, 26)

    # Bugzilla: succeeded three hours ago; the last run failed, quoting the server and a person.
    _run(bmo, hours_ago=3, rejected=3, reasons={"no author named": 2, "malformed record": 1},
         samples=[{"external_id": "bug:7", "reason": f"actor.email {PLANTED[0]!r} is not an e-mail"}])
    _run(bmo, hours_ago=5, rejected=4)  # a run from before reasons were counted
    _run(bmo, hours_ago=1, status=SyncRun.Status.FAILED, rejected=1, reasons={f"said {PLANTED[0]}": 1},
         error=PLANTED[3], samples=[{"external_id": "bug:8", "reason": PLANTED[3]}])
    _run(bmo, hours_ago=0.5, status=SyncRun.Status.SKIPPED, error="Another sync of this source is running")
    RejectedItem.objects.create(source=bmo, external_id="bug:7", reason=f"no author named {PLANTED[0]}")
    SyncState.objects.create(source=bmo, source_totals={
        "bug": {"reported": 12, "stored": 5, "rejected": 1, "at": (NOW - timedelta(hours=3)).isoformat()},
        "comment": {"reported": PLANTED[0], "stored": 1, "rejected": 0, "at": PLANTED[3]},  # not a number: left out
    })
    # SUMO: twelve runs, the oldest two (beyond the last ten) with rejections that are not counted.
    for number in range(12):
        old = number >= 10
        _run(sumo, hours_ago=2 + number, rejected=5 if old else 1,
             reasons={"marked as spam": 5} if old else {"deleted account": 1})
    SyncState.objects.create(source=sumo, source_totals={
        "question": {"reported": 1, "stored": 1, "rejected": 0, "at": (NOW - timedelta(hours=2)).isoformat()},
        "answer": {"reported": 4, "stored": 2, "rejected": 1, "at": (NOW - timedelta(hours=2)).isoformat()},
    })
    return History(bmo=bmo, sumo=sumo, git=git, paused=paused, never=never)


def _user():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username=PLANTED[1], email=PLANTED[0])
