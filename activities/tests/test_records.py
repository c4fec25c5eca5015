"""Reading one activity record: a line of a file is read quickly when it is plainly written, and
exactly as carefully as any other record either way (activities/records.py)."""

import json
from datetime import UTC, datetime

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities import records
from activities.records import RecordError, record_parse

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def line(**overrides) -> bytes:
    base = {
        "source": "github-mozilla",
        "external_id": "pr:mozilla/kitsune:5123",
        "type": "github.pull_request.opened",
        "occurred_at": "2024-05-01T12:03:00+02:00",
        "actor": {"email": "Ann@Example.org", "username": "Ann", "uid": "583231", "name": "Ann Example"},
        "container": "mozilla/kitsune",
        "url": "https://github.com/mozilla/kitsune/pull/5123",
        "title": "Fix the search box",
        "data": {"number": 5123, "labels": ["good first issue"]},
    }
    return json.dumps(base | overrides).encode()


def careful(raw: bytes) -> records.ActivityRecord:
    """What the field-by-field reading makes of a line (the reading that names what is wrong)."""
    return records._read_carefully(raw, now=NOW, nul_possible=b"\\u0000" in raw)


def outcome(read, raw: bytes):
    try:
        return read(raw)
    except RecordError as error:
        return f"rejected: {error}"


def test_a_plain_line_is_read_without_a_dict_and_in_few_steps(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("read by the full checks")

    record_parse(line(), now=NOW)  # its type is now known good
    monkeypatch.setattr(records.orjson, "loads", never)
    monkeypatch.setattr(records, "_activity_record", never)
    record = record_parse(line(), now=NOW)
    assert (record.email, record.username, record.uid) == ("ann@example.org", "ann", "583231")
    assert record.data_json == '{"number":5123,"labels":["good first issue"]}'


@pytest.mark.parametrize(
    "raw",
    [
        line(),
        line(external_id="  padded  ", title="x" * 700),
        line(actor={"uid": 583231}),  # a number, as GitHub gives it
        line(actor={"uid": 2**63}),  # wider than the typed reading takes
        line(actor={"uid": True}),
        line(actor={"email": "", "username": "ann"}),
        line(actor={"email": "a@b@c", "username": "ann"}),
        line(actor={"name": None, "username": "ann"}),
        line(actor={"username": "dependabot[bot]"}),
        line(actor={"username": "Dependabot[BOT]"}),  # bots are told by the name as written
        line(actor={"email": " ann@example.org ", "username": " ", "uid": " 7 "}),
        line(external_id="x" * 255, container="c" * 255, url="u" * 1000, type="a.b." + "c" * 96),
        line(external_id=" " + "x" * 255, url=" " + "u" * 1000 + " "),  # too long only with its spaces
        line(external_id="x" * 256),
        line(actor={"email": "a@b.c" + "x" * 320}),
        line(container=None, url=None, title=None, data=None),
        line(data={"big": 2**70}),  # orjson reads it as a float, and so it is stored
        line(data=[1, "two", {"three": 3.5}]),
        line(external_id=""),
        line(external_id=" "),
        line(type="Not A Type"),
        line(occurred_at="2024-05-01T12:03:00"),
        line(occurred_at="2099-05-01T12:03:00Z"),
        line(title="nul \u0000 inside"),
        line(occurred_at="0001-01-01T00:00:00+01:00"),
        line(occurred_at="0001-01-01T00:00+01:00"),
        line(occurred_at="1970-01-01T00:30:00+01:00"),
        line(occurred_at="1970-01-02T00:00:00+23:59"),
        line(occurred_at="1969-12-31T23:00:00-01:00"),
        line(occurred_at="2024-05-01T12:03:00-23:59"),
        line(occurred_at="2024-05-01T12:03:00+15:00"),
        line(occurred_at="2024-05-01T12:03:00+14:59"),
        line(actor={"email": "ＡＮＮ＠ｅｘａｍｐｌｅ．ｏｒｇ"}),
        line(actor={"email": "ann\u200b@example.org", "username": "ann"}),
        line(actor={"email": "\u200b\u202e"}),
        line(actor={"email": "\u200b", "username": "ann"}),
        line(actor={"email": "a@b." + "ﷺ" * 100}),  # 1,804 characters once normalised
        line(actor={"username": "ß" * 161}),  # 322 once case-folded
        line(actor={"username": "ß" * 160}),
        b'{"source": "github-mozilla", "external_id": "x"}',
        b"[1, 2]",
        b'{"broken": ',
    ],
)
def test_the_quick_reading_agrees_with_the_careful_one(raw):
    assert outcome(lambda r: record_parse(r, now=NOW), raw) == outcome(careful, raw)


text_or_other = st.text(max_size=30) | st.none() | st.integers() | st.booleans() | st.floats(allow_nan=False)
# Around the length limits too (100, 255, 320 and 1,000 characters; spaces around don't count).
long_text = st.sampled_from([100, 101, 255, 256, 320, 321, 1000, 1001]).flatmap(
    lambda size: st.sampled_from(["x" * size, " " + "x" * (size - 1) + " ", "x" * (size - 2) + "[bot]"])
)
messy_text = (
    st.sampled_from(["", " ", " ann ", "ann\t", "a@b", "x@y.z ", "\u00a0", "Ann[bot]", "ANN[BOT]", "\u0000"])
    # E-mails and names that normalise, or fold longer: full width, invisible, ß, ligatures.
    | st.sampled_from(["ＡＮＮ＠ｅｘ．ｏｒｇ", "ann\u200b@ex.org", "\u202e@\u202c", "\u200b", "ǰ@x", "ß" * 161, "ﬃ@x", "a\u3000@b"])
    | st.text(alphabet=st.sampled_from("aß@\u200b\u202eＡ＠ﬃ\u3000 ."), max_size=12)
    | long_text
    | text_or_other
)
moments = (
    st.sampled_from(
        ["2024-05-01T12:03:00+02:00", "2024-05-01 12:03:00Z", "2024-05-01T12:03:00.1234567Z", "20240501T120300Z", "2024-05-01", "soon",
         "0001-01-01T00:00:00+01:00", "0001-01-01T00:00+01:00", "9999-12-31T23:59:59-01:00", "1970-01-01T00:00:00Z",
         "1970-01-01T00:30:00+01:00", "2024-W18-3T12:03:00Z", "2024-05-01T12:03:60Z"]
    )
    | st.datetimes(timezones=st.sampled_from([UTC, None])).map(datetime.isoformat)
    # Any moment with any offset Python reads: near 1970, years 1 and 9999, 16 hours or more.
    | st.builds(
        lambda moment, minutes, seconds: moment.isoformat(timespec=seconds) + f"{'+-'[minutes < 0]}{abs(minutes) // 60:02}:{abs(minutes) % 60:02}",
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31))
        | st.datetimes(min_value=datetime(1969, 12, 30), max_value=datetime(1970, 1, 3)),
        st.integers(min_value=-1439, max_value=1439),
        st.sampled_from(["minutes", "seconds", "microseconds"]),
    )
)
values = {
    "source": st.sampled_from(["github-mozilla", " github-mozilla "]) | text_or_other,
    "external_id": messy_text,
    "type": st.sampled_from(["git.commit.authored", " git.commit.authored", "Git.Commit", "git.commit." + "x" * 80])
    | text_or_other,
    "occurred_at": moments | text_or_other,
    "container": messy_text,
    "url": messy_text,
    "title": messy_text,
    "data": st.recursive(
        text_or_other | st.integers(min_value=-(2**70), max_value=2**70),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=8,
    ),
}
actor_values = {
    "email": messy_text,
    "username": messy_text,
    "uid": messy_text | st.integers(min_value=-(2**65), max_value=2**65),
    "name": messy_text,
    "bot": text_or_other,
}
# A good record with up to three things changed (most still valid, many not), or anything.
messy_records = st.builds(
    lambda changes, actor_changes, actor_replaced: (
        json.loads(line())
        | changes
        | {"actor": actor_replaced if actor_replaced is not None else json.loads(line())["actor"] | actor_changes}
    ),
    st.fixed_dictionaries({}, optional=values).filter(lambda d: len(d) <= 3),
    st.fixed_dictionaries({}, optional=actor_values).filter(lambda d: len(d) <= 3),
    st.none() | st.none() | st.none() | text_or_other,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=messy_records)
def test_any_line_is_read_the_same_either_way(record):
    raw = json.dumps(record).encode()
    assert outcome(lambda r: record_parse(r, now=NOW), raw) == outcome(careful, raw)


@pytest.mark.parametrize(
    "written, kept",
    [
        ("2024-05-01T12:03:00+02:00", "2024-05-01T12:03:00+02:00"),
        (" 2024-05-01T12:03:00Z ", "2024-05-01T12:03:00Z"),
        ("2024-05-01T12:03:00.25-07:00", "2024-05-01T12:03:00.25-07:00"),
        # Written otherwise: the moment in UTC, as Python read it.
        ("2024-05-01 12:03:00+02:00", "2024-05-01T10:03:00+00:00"),
        ("20240501T120300Z", "2024-05-01T12:03:00+00:00"),
        ("2024-05-01T12:03:00+0200", "2024-05-01T10:03:00+00:00"),
        ("2024-05-01T12:03:00.1234567Z", "2024-05-01T12:03:00.123456+00:00"),
    ],
)
def test_occurred_at_is_kept_as_written_when_plainly_written(written, kept):
    assert record_parse(line(occurred_at=written), now=NOW).occurred_at == kept
    assert record_parse(line(occurred_at=written), now=NOW).moment == datetime.fromisoformat(written.strip())


@pytest.mark.parametrize("future", ["2026-01-02T01:00:00Z", "2026-01-02T12:00:00+11:00", "2026-01-03T00:00:00-12:00"])
def test_a_moment_more_than_a_day_ahead_is_refused_whatever_its_offset(future):
    with pytest.raises(RecordError, match="is in the future"):
        record_parse(line(occurred_at=future), now=NOW)
    assert record_parse(line(occurred_at="2026-01-01T23:00:00-01:00"), now=NOW)  # within the day


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="what PostgreSQL reads")
def test_postgresql_reads_the_same_moment_from_the_text_kept():
    written = [
        "2024-05-01T12:03:00+02:00",
        "2024-05-01T12:03:00Z",
        "2024-05-01T23:59:59.999999-11:30",
        "1999-12-31T00:00:00.5+14:00",
        "2024-05-01 12:03:00+02:00",
        "20240501T120300Z",
        "2024-05-01T12:03:00.1234567Z",
    ]
    kept = [record_parse(line(occurred_at=text), now=NOW).occurred_at for text in written]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL TIME ZONE 'America/Sao_Paulo'")  # whatever the session's zone
        cursor.execute("SELECT t::timestamptz AT TIME ZONE 'UTC' FROM unnest(%s::text[]) AS t", [kept])
        read = [moment.replace(tzinfo=UTC) for (moment,) in cursor.fetchall()]
    assert read == [record_parse(line(occurred_at=text), now=NOW).moment for text in written]


@pytest.mark.django_db
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(written=st.lists(moments, min_size=1, max_size=20))
def test_every_moment_accepted_is_from_1970_to_tomorrow_and_read_back_alike(written):
    """Whatever the text, offset or year: an accepted moment lies from 1970 to a day ahead, converts
    to UTC in Python, and PostgreSQL reads the same moment from the text kept (it stored a year-1
    moment as 1 BC, and refused offsets of 16 hours or more)."""
    accepted = []
    for text in written:
        try:
            accepted.append(record_parse(line(occurred_at=text), now=NOW))
        except RecordError as error:
            assert "occurred_at" in str(error)
    for record in accepted:
        assert records.EARLIEST <= record.moment.astimezone(UTC) <= NOW + records.FUTURE_TOLERANCE
    if connection.vendor == "postgresql" and accepted:
        with connection.cursor() as cursor:
            cursor.execute("SELECT t::timestamptz FROM unnest(%s::text[]) AS t", [[record.occurred_at for record in accepted]])
            assert [moment for (moment,) in cursor.fetchall()] == [record.moment for record in accepted]
