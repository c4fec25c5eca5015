"""Importing activity records (JSON Lines) through `import_activities` and the ingestion service."""

import json
from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from activities import services
from activities.models import Activity, Source
from activities.services import activities_ingest
from contributors.models import Identity, Person, PersonMerge

from .factories import SourceFactory

pytestmark = pytest.mark.django_db


def record(external_id: str, **overrides) -> dict:
    base = {
        "source": "github-mozilla",
        "external_id": external_id,
        "type": "github.pull_request.opened",
        "occurred_at": "2024-05-01T12:03:00+02:00",
        "actor": {"email": "ann@example.org", "username": "ann", "uid": "583231", "name": "Ann Example"},
        "container": "mozilla/kitsune",
        "url": f"https://github.com/mozilla/kitsune/pull/{external_id}",
        "title": "Fix the search box",
        "data": {"number": external_id, "labels": ["good first issue"]},
    }
    return base | overrides


def write_lines(path, lines: list) -> str:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return str(path)


def run_import(path: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_activities", path, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def github():
    return SourceFactory(slug="github-mozilla", kind="github", name="GitHub")


def test_a_file_imports_once_and_a_reimport_adds_nothing(github, tmp_path):
    path = write_lines(tmp_path / "history.jsonl", [record(str(n)) for n in range(250)])

    first, _ = run_import(path)
    second, _ = run_import(path)

    assert "created: 250  duplicate: 0  rejected: 0" in first
    assert "created: 0  duplicate: 250  rejected: 0" in second
    assert Activity.objects.count() == 250


def test_an_activity_is_stored_as_the_contract_describes(github, tmp_path):
    run_import(write_lines(tmp_path / "one.jsonl", [record("pr:mozilla/kitsune:5123")]))

    activity = Activity.objects.select_related("identity__person").get()
    assert activity.source == github
    assert activity.type == "github.pull_request.opened"
    assert activity.occurred_at == datetime(2024, 5, 1, 10, 3, tzinfo=UTC)  # stored in UTC
    assert activity.container == "mozilla/kitsune"
    assert activity.title == "Fix the search box"
    assert activity.data == {"number": "pr:mozilla/kitsune:5123", "labels": ["good first issue"]}
    # The activity points at the account in its own source; its person holds all three keys.
    assert (activity.identity.kind, activity.identity.value) == ("uid", "583231")
    assert sorted(activity.identity.person.identities.values_list("kind", "value")) == [
        ("email", "ann@example.org"),
        ("uid", "583231"),
        ("username", "ann"),
    ]
    assert activity.identity.person.display_name == "Ann Example"


def test_a_raw_payload_reads_back_as_sent_whichever_way_it_was_written(github, tmp_path):
    payload = {"body": 'Tab\there, "quoted", back\\slash, new\nline', "名前": "Zoë ✓", "n": [1, 2.5, None, True]}
    run_import(write_lines(tmp_path / "one.jsonl", [record("imported", data=payload)]))
    Activity.objects.create(
        source=github, external_id="written", type="github.issue.opened", occurred_at=datetime.now(UTC), data=payload
    )

    assert [activity.data for activity in Activity.objects.order_by("external_id")] == [payload, payload]
    assert list(Activity.objects.order_by("external_id").values_list("data", flat=True)) == [payload, payload]


def test_good_lines_are_kept_and_every_bad_line_is_named(github, tmp_path):
    future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    lines = [
        record("good-1"),
        '{"source": "github-mozilla", "external_id": ',  # 2: malformed JSON
        {"source": "github-mozilla", "type": "github.issue.opened"},  # 3: required fields missing
        record("x", source="no-such-source"),  # 4
        record("x", occurred_at="2024-05-01T12:03:00"),  # 5: no offset
        record("x", occurred_at=future),  # 6: in the future
        record("x", actor={"name": "Nobody"}),  # 7: nothing identifies the actor
        record("x", actor={"email": "a@b@c"}),  # 8: not an e-mail and nothing else
        record("x") | {"external_id": 12},  # 9: wrong type
        record("x", type="Pull Request"),  # 10: not <system>.<object>.<action>
        "[1, 2, 3]",  # 11: not an object
        record("good-2", actor={"email": "dev@localhost"}),  # 12: odd but valid e-mail key
        record("good-3", actor={"email": "me@laptop.(none)", "name": "Me"}),  # 13
        record("good-4", actor={"email": "name at host", "username": "nat"}),  # 14: the bad e-mail is ignored
        record("x", title="a\u0000b"),  # 15
    ]
    out, err = run_import(write_lines(tmp_path / "mixed.jsonl", lines))

    assert "created: 4  duplicate: 0  rejected: 11" in out
    assert set(Activity.objects.values_list("external_id", flat=True)) == {"good-1", "good-2", "good-3", "good-4"}
    reasons = dict(line.split(": ", 1) for line in err.strip().splitlines())
    assert reasons["line 2"].startswith("not valid JSON")
    assert reasons["line 3"] == "missing required fields: external_id, occurred_at, actor"
    assert reasons["line 4"].startswith("unknown source 'no-such-source'")
    assert "has no UTC offset" in reasons["line 5"]
    assert "is in the future" in reasons["line 6"]
    assert reasons["line 7"] == "actor has nothing to identify it: give an email, username or uid"
    assert "is not an e-mail address" in reasons["line 8"]
    assert reasons["line 9"] == "external_id must be a string, not a number"
    assert "<system>.<object>.<action>" in reasons["line 10"]
    assert reasons["line 11"] == "a record must be a JSON object, not a list"
    assert "NUL" in reasons["line 15"]
    assert set(reasons) == {f"line {n}" for n in (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 15)}


def test_a_50_mb_line_is_rejected_without_losing_its_neighbours(github, tmp_path):
    huge = json.dumps(record("huge", title="x" * (50 * 1024 * 1024)))
    out, err = run_import(write_lines(tmp_path / "huge.jsonl", [record("before"), huge, record("after")]))

    assert "created: 2  duplicate: 0  rejected: 1" in out
    assert "line 2: the record is 52,429,1" in err
    assert "the limit is 1,000,000 bytes" in err


def test_unknown_sources_are_created_only_when_asked(tmp_path):
    path = write_lines(tmp_path / "new.jsonl", [record("1", source="git-firefox", type="git.commit.authored")])

    out, err = run_import(path)
    assert "rejected: 1" in out and "--create-sources" in err
    out, _ = run_import(path, "--create-sources")

    assert "created source 'git-firefox'" in out
    source = Source.objects.get(slug="git-firefox")
    assert (source.kind, source.schedule_minutes) == ("import", 0)
    assert Activity.objects.filter(source=source).count() == 1


def test_a_missing_file_is_an_error():
    with pytest.raises(CommandError, match="Cannot read /no/such/file.jsonl"):
        run_import("/no/such/file.jsonl")


def test_blank_lines_are_skipped_and_line_numbers_stay_true(github, tmp_path):
    path = tmp_path / "gaps.jsonl"
    path.write_text(json.dumps(record("1")) + "\n\n   \nnot json\n")
    out, err = run_import(str(path))
    assert "created: 1  duplicate: 0  rejected: 1" in out
    assert err.startswith("line 4: not valid JSON")


def test_the_same_email_in_any_case_and_any_source_is_one_person(github):
    SourceFactory(slug="bugzilla", kind="bugzilla")
    activities_ingest(
        records=enumerate(
            [
                record("1", actor={"email": "Ann@Example.ORG "}),
                {**record("2", source="bugzilla", type="bugzilla.bug.filed"), "actor": {"email": "ann@example.org"}},
            ]
        )
    )
    assert Person.objects.count() == 1
    assert Identity.objects.get().value == "ann@example.org"


def test_the_same_username_in_two_sources_is_two_people_unless_they_share_accounts(github):
    SourceFactory(slug="sumo", kind="sumo")
    activities_ingest(records=enumerate([record("1", actor={"username": "ann"}), record("2", source="sumo", actor={"username": "ann"})]))
    assert Person.objects.count() == 2

    SourceFactory(slug="github-other", kind="github", account_namespace="github")
    Source.objects.filter(slug="github-mozilla").update(account_namespace="github")
    activities_ingest(
        records=enumerate([record("3", actor={"username": "bob"}), record("4", source="github-other", actor={"username": "BOB"})])
    )
    assert Identity.objects.get(value="bob").person.identities.count() == 1
    assert Person.objects.count() == 3


def test_an_email_and_a_login_named_together_join_their_people_transitively(github):
    activities_ingest(
        records=enumerate(
            [
                record("1", actor={"email": "ann@example.org"}),
                record("2", actor={"username": "ann"}),
                record("3", actor={"email": "ann@corp.example"}),
            ]
        )
    )
    assert Person.objects.count() == 3

    # A commit names the login with both addresses: all three accounts are one human.
    activities_ingest(records=enumerate([record("4", actor={"email": "ann@example.org", "username": "ann"})]))
    activities_ingest(records=enumerate([record("5", actor={"email": "ann@corp.example", "username": "ann"})]))

    assert Person.objects.count() == 1
    assert Person.objects.get().identities.count() == 3
    assert PersonMerge.objects.count() == 2  # every merge is audited
    assert Activity.objects.filter(identity__person=Person.objects.get()).count() == 5


def test_bots_are_flagged(github):
    activities_ingest(records=enumerate([record("1", actor={"username": "dependabot[bot]", "uid": "49699333"})]))
    assert Person.objects.get().is_bot


def test_staff_email_domains_give_staff_periods_from_the_first_to_the_last_activity(github, settings):
    settings.STAFF_EMAIL_DOMAINS = ["mozilla.example"]
    activities_ingest(
        records=enumerate([record("1", actor={"email": "ann@Mozilla.example"}), record("2", actor={"email": "vol@example.org"})])
    )
    ann, vol = Person.objects.order_by("pk")
    assert list(ann.staff_periods.values_list("staff_from", "staff_until", "origin")) == [
        (date(2024, 5, 1), date(2024, 5, 1), "email-domain")
    ]
    assert not vol.staff_periods.exists()

    # Later and earlier activities with the address widen the period; re-importing changes nothing.
    later = record("3", actor={"email": "ann@mozilla.example"}, occurred_at="2025-02-03T23:30:00-02:00")
    earlier = record("4", actor={"email": "ann@mozilla.example"}, occurred_at="2023-12-31T23:59:00Z")
    for _ in range(2):
        activities_ingest(records=enumerate([later, earlier]))
        assert list(ann.staff_periods.values_list("staff_from", "staff_until")) == [(date(2023, 12, 31), date(2025, 2, 4))]


def test_duplicates_within_one_batch_count_once(github):
    result = activities_ingest(records=enumerate([record("1"), record("1"), record("2")]))
    assert (result.created, result.duplicate) == (2, 1)


def test_a_failure_later_in_an_import_keeps_the_batches_already_accepted(github, monkeypatch):
    real_insert = services._insert_activities
    calls = []

    def failing_insert(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(services, "_insert_activities", failing_insert)
    with pytest.raises(RuntimeError):
        activities_ingest(records=enumerate([record(str(n)) for n in range(30)]), batch_size=10)

    assert Activity.objects.count() == 10
    # The failed batch left nothing half-done: re-running completes the import exactly.
    monkeypatch.setattr(services, "_insert_activities", real_insert)
    result = activities_ingest(records=enumerate([record(str(n)) for n in range(30)]), batch_size=10)
    assert (result.created, result.duplicate) == (20, 10)
    assert Person.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_pipelined_import_stores_every_batch_exactly_once():
    """The database stores one batch while the next is read (the default outside a transaction)."""
    SourceFactory(slug="github-mozilla", kind="github")
    records = [record(str(n % 40)) for n in range(50)] + ["{bad"]

    result = activities_ingest(records=enumerate(records, start=1), batch_size=7, pipeline=True)

    assert (result.created, result.duplicate, len(result.rejected)) == (40, 10, 1)
    assert result.rejected[0].position == 51
    assert Activity.objects.count() == 40
    again = activities_ingest(records=enumerate(records, start=1), batch_size=7, pipeline=True)
    assert (again.created, again.duplicate) == (0, 50)


@pytest.mark.django_db(transaction=True)
def test_a_failure_in_a_pipelined_import_keeps_the_batches_already_stored(monkeypatch):
    SourceFactory(slug="github-mozilla", kind="github")
    real_insert = services._insert_activities
    calls = []

    def failing_insert(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("database went away")
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(services, "_insert_activities", failing_insert)
    with pytest.raises(RuntimeError):
        activities_ingest(records=enumerate([record(str(n)) for n in range(50)]), batch_size=10, pipeline=True)

    assert Activity.objects.count() == 20


@pytest.mark.parametrize("occurred_at", ["0001-01-01T00:00+01:00", "0001-01-01T00:00:00+01:00", "1969-12-31T23:59:59Z"])
def test_a_moment_before_1970_is_rejected_and_its_batch_kept(github, tmp_path, occurred_at):
    """Year 1 crashed the import with a traceback (losing its batch), or was stored as 1 BC on
    PostgreSQL, after which that contributor's pages and every recompute failed."""
    lines = [record("before"), record("old", occurred_at=occurred_at), record("after")]

    out, err = run_import(write_lines(tmp_path / "old.jsonl", lines))

    assert "created: 2  duplicate: 0  rejected: 1" in out
    assert err.strip() == f"line 2: occurred_at {occurred_at!r} is before 1970-01-01T00:00:00Z"
    assert [activity.occurred_at.year for activity in Activity.objects.all()] == [2024, 2024]


def test_a_file_saved_with_a_byte_order_mark_and_old_mac_line_endings_imports_every_line(github, tmp_path):
    """The mark cost the first record; carriage returns alone made the file one rejected line."""
    path = tmp_path / "excel.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\r".join(json.dumps(record(str(n))).encode() for n in range(3)) + b"\r")

    out, err = run_import(str(path))

    assert "created: 3  duplicate: 0  rejected: 0" in out and err == ""


def test_a_payload_nested_too_deep_costs_only_its_own_line(github, tmp_path):
    """A payload nested 2,000 deep overflowed the typed decoder's stack: a traceback, and the good
    lines of its batch lost."""
    deep = json.dumps(record("deep"))[:-1] + ', "data": ' + "[" * 2000 + "]" * 2000 + "}"
    lines = [record("before"), deep, record("after")]

    out, err = run_import(write_lines(tmp_path / "deep.jsonl", lines))

    assert "created: 2  duplicate: 0  rejected: 1" in out
    assert err.startswith("line 2: not valid JSON")
