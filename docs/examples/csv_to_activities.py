#!/usr/bin/env python3
"""Turn a Mozilla Location Services contribution export (CSV) into Baloo activity records.

Mozilla Location Services (MLS) was retired in 2024: no API is left to sync from, only exports of
what its stumblers contributed. This script turns such an export into activity records of Baloo's
common schema (docs/contracts.md §1), one report per record:

    python docs/examples/csv_to_activities.py stumbles.csv > stumbles.jsonl
    python manage.py import_activities stumbles.jsonl

or into JSON arrays of at most 1,000 records, one file per batch, for the push API:

    python docs/examples/csv_to_activities.py stumbles.csv --batches out/
    for batch in out/batch-*.json; do
      curl -X POST https://baloo.example.org/api/v1/activities/ -H "Authorization: Bearer $BALOO_TOKEN" \\
        -H "Content-Type: application/json" --data-binary @"$batch"
    done

The export has a header line and these columns (any order; other columns are ignored, and named):

    report_id            the report's id in MLS: the record's external id is `report:<report_id>`
    submitted_at         when it was submitted, ISO 8601 with a UTC offset (2019-03-02T18:04:11+01:00, or Z)
    contributor_email    the stumbler's address, and/or
    contributor_nickname the name shown on the MLS leaderboard (one of the two is needed)
    contributor_name     optional: the stumbler's name
    kind                 wifi, cell or bluetooth: what the report observed
    country              optional: the ISO 3166 country code (DE, BR…), the record's container
    observations         optional: how many networks or towers the report held

Every record is of type `mls.report.submitted`. A line that cannot become a record is named on
standard error with the reason (`line 7: submitted_at "yesterday" is not an ISO 8601 time`), and the
other lines are still converted: the exit status is then 1. A file that cannot be read at all (not
UTF-8, a required column missing) writes nothing and exits with 2. The same export always gives the
same records, so importing or pushing it again counts nothing twice.

Standard library only, Python 3.11 or later.
"""

import argparse
import contextlib
import csv
import io
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

TYPE = "mls.report.submitted"
REQUIRED_COLUMNS = ("report_id", "submitted_at", "kind")
OPTIONAL_COLUMNS = ("contributor_email", "contributor_nickname", "contributor_name", "country", "observations")
KINDS = {"wifi": "Wi-Fi", "cell": "cell tower", "bluetooth": "Bluetooth"}
MAX_BATCH = 1000  # the push API takes at most this many records per request
SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,100}$")
REPORT_ID = re.compile(r"^[-A-Za-z0-9_.:]{1,200}$")
COUNTRY = re.compile(r"^[A-Za-z]{2}$")
# Baloo's own limits (activities/records.py): longer values would be rejected at import.
MAX_EMAIL, MAX_NAME = 320, 200
FUTURE_TOLERANCE = timedelta(days=1)


class LineError(ValueError):
    """A line that cannot become a record; the message says why."""


class FileError(ValueError):
    """A file that cannot be read at all."""


def record_of(row: dict[str, str], *, source: str, naive_is_utc: bool = False) -> dict:
    """The activity record of one CSV row (a dict by column), or LineError saying what is wrong."""
    for column, value in row.items():
        if "\x00" in value:
            raise LineError(f"{column} contains a NUL character")
    report_id = row["report_id"].strip()
    if not REPORT_ID.match(report_id):
        raise LineError(
            f"report_id {report_id[:40]!r} is not an id (1 to 200 letters, digits and - _ . :)" if report_id
            else "report_id is empty"
        )
    actor = {}
    email = row.get("contributor_email", "").strip()
    if email:
        if email.count("@") != 1 or any(char.isspace() for char in email) or len(email) > MAX_EMAIL:
            raise LineError(f"contributor_email {email[:60]!r} is not an e-mail address")
        actor["email"] = email
    nickname = row.get("contributor_nickname", "").strip()
    if nickname:
        if len(nickname) > MAX_NAME:
            raise LineError(f"contributor_nickname is longer than {MAX_NAME} characters")
        actor["username"] = nickname
    if not actor:
        raise LineError("names no contributor: give contributor_email or contributor_nickname")
    name = row.get("contributor_name", "").strip()
    if len(name) > MAX_NAME:
        raise LineError(f"contributor_name is longer than {MAX_NAME} characters")
    if name:
        actor["name"] = name
    kind = row["kind"].strip().lower()
    if kind not in KINDS:
        raise LineError(f"kind {row['kind'][:40]!r} is not one of {', '.join(KINDS)}")
    country = row.get("country", "").strip()
    if country and not COUNTRY.match(country):
        raise LineError(f"country {country[:40]!r} is not a two-letter country code such as DE")
    observations = row.get("observations", "").strip()
    if observations and not (observations.isascii() and observations.isdigit() and len(observations) <= 18):
        raise LineError(f"observations {observations[:40]!r} is not a whole number")
    data = {"report_id": report_id, "kind": kind}
    if country:
        data["country"] = country.upper()
    if observations:
        data["observations"] = int(observations)
    what = f"{int(observations)} {KINDS[kind]} observations" if observations else f"{KINDS[kind]} observations"
    return {
        "source": source,
        "external_id": f"report:{report_id}",
        "type": TYPE,
        "occurred_at": _moment(row["submitted_at"], naive_is_utc=naive_is_utc),
        "actor": actor,
        "container": country.upper(),
        "title": f"Submitted {what}" + (f" in {country.upper()}" if country else ""),
        "data": data,
    }


def _moment(text: str, *, naive_is_utc: bool) -> str:
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise LineError(f"submitted_at {value[:40]!r} is not an ISO 8601 time such as 2019-03-02T18:04:11+01:00") from None
    if moment.tzinfo is None:
        if not naive_is_utc:
            raise LineError(
                f"submitted_at {value[:40]!r} has no UTC offset: add one (Z, +01:00), or pass --naive-utc "
                "if every time without one is UTC"
            )
        moment = moment.replace(tzinfo=UTC)
    if moment.year < 1970:
        raise LineError(f"submitted_at {value[:40]!r} is before 1970")
    if moment > datetime.now(UTC) + FUTURE_TOLERANCE:
        raise LineError(f"submitted_at {value[:40]!r} is in the future")
    return moment.isoformat()


def convert(lines, *, source: str, naive_is_utc: bool = False, errors=lambda line, reason: None, notes=print):
    """Yield the records of a CSV export given as lines of text; report each bad line to `errors(line, reason)`
    and columns it ignores to `notes(text)`.

    Raises FileError, before yielding anything, when the header lacks a required column.
    """
    read = 0  # lines handed to the CSV reader so far: the line a broken quote ran to the end from

    def counted(lines):
        nonlocal read
        for line in lines:
            read += 1
            yield line

    reader = csv.DictReader(counted(lines), strict=True)
    try:
        header = reader.fieldnames
    except csv.Error as error:
        raise FileError(f"line 1: {error}") from None
    if not header:
        raise FileError("the file is empty: it needs a header line naming its columns")
    columns = [column.strip() for column in header]
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if "contributor_email" not in columns and "contributor_nickname" not in columns:
        missing.append("contributor_email or contributor_nickname")
    if missing:
        raise FileError(f"line 1: the header lacks {', '.join(missing)} (it has {', '.join(columns) or 'nothing'})")
    duplicated = sorted({column for column in columns if columns.count(column) > 1})
    if duplicated:
        raise FileError(f"line 1: the header names {', '.join(duplicated)} twice")
    reader.fieldnames = columns
    ignored = [column for column in columns if column not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if ignored:
        notes(f"ignoring column{'s' if len(ignored) > 1 else ''} {', '.join(ignored)}")
    seen: dict[str, int] = {}
    while True:
        start = read + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            where = f"line {start}" if read <= start else f"lines {start}–{read}"
            errors(start, f"not readable as CSV ({where}): {error}; is a quote left open?")
            continue
        line = reader.line_num
        if None in row or None in row.values():
            count = len(columns) + len(row[None]) if None in row else sum(value is not None for value in row.values())
            errors(line, f"{count} fields, the header has {len(columns)}")
            continue
        if not any(value.strip() for value in row.values()):
            continue  # an empty line
        try:
            record = record_of(row, source=source, naive_is_utc=naive_is_utc)
        except LineError as error:
            errors(line, str(error))
            continue
        report = record["external_id"]
        if report in seen:
            errors(line, f"report_id {report.removeprefix('report:')!r} is already on line {seen[report]}")
            continue
        seen[report] = line
        yield record


def _batches(records, size: int):
    batch = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Turn an MLS contribution export (CSV) into Baloo activity records.")
    parser.add_argument("csv", help="the export, a CSV file with a header line (- for standard input)")
    parser.add_argument("--source", default="mls", help="the Baloo source's slug (default: mls)")
    parser.add_argument("--output", "-o", help="write JSON Lines here instead of standard output")
    parser.add_argument("--batches", metavar="DIR", help="write JSON arrays for the push API into DIR instead")
    parser.add_argument("--batch-size", type=int, default=MAX_BATCH, help=f"records per batch (at most {MAX_BATCH})")
    parser.add_argument("--naive-utc", action="store_true", help="read times without a UTC offset as UTC")
    options = parser.parse_args(argv)
    if not SLUG.match(options.source):
        parser.error(f"--source {options.source!r} is not a source slug (letters, digits, - and _)")
    if not 1 <= options.batch_size <= MAX_BATCH:
        parser.error(f"--batch-size must be from 1 to {MAX_BATCH}: the push API takes at most {MAX_BATCH} records")

    bad = 0
    name = "standard input" if options.csv == "-" else options.csv

    def report(line: int, reason: str) -> None:
        nonlocal bad
        bad += 1
        print(f"line {line}: {reason}", file=sys.stderr)

    def note(text: str) -> None:
        print(f"{name}: {text}", file=sys.stderr)

    try:
        data = sys.stdin.buffer.read() if options.csv == "-" else Path(options.csv).read_bytes()
    except OSError as error:
        print(f"cannot read {name}: {error.strerror}", file=sys.stderr)
        return 2
    try:
        # Decoded whole, so that a file that is not UTF-8 writes nothing rather than half.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        print(f"{name}: line {line} is not UTF-8 text (byte {error.start}); nothing written", file=sys.stderr)
        return 2
    try:
        lines = io.StringIO(text, newline="")
        records = list(convert(lines, source=options.source, naive_is_utc=options.naive_utc, errors=report, notes=note))
    except FileError as error:
        print(f"{name}: {error}; nothing written", file=sys.stderr)
        return 2

    if options.batches:
        folder = Path(options.batches)
        folder.mkdir(parents=True, exist_ok=True)
        for number, batch in enumerate(_batches(records, options.batch_size), start=1):
            (folder / f"batch-{number:04d}.json").write_text(json.dumps(batch, ensure_ascii=False) + "\n", encoding="utf-8")
    else:
        out = open(options.output, "w", encoding="utf-8") if options.output else contextlib.nullcontext(sys.stdout)  # noqa: SIM115
        with out as stream:
            for record in records:
                stream.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"records: {len(records)}  lines rejected: {bad}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
