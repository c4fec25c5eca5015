"""A retired system's path in (docs/examples/README.md, "Systems without an API"): a Mozilla Location
Services export turned into activity records by docs/examples/csv_to_activities.py, then imported or
pushed. End to end: the script runs as a builder runs it, its output goes through `import_activities`
and the push API, and every number is checked."""

import json
import subprocess
import sys
from datetime import date
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from activities.models import Activity, Source
from activities.tokens import source_token_create
from contributors.models import Person
from conversion_points.models import Population
from metrics.engine import metrics_recompute
from metrics.selectors import metric_run_current, metrics_summary

EXAMPLES = Path(settings.BASE_DIR) / "docs" / "examples"
SCRIPT = EXAMPLES / "csv_to_activities.py"
HEADER = "report_id,submitted_at,contributor_email,contributor_nickname,contributor_name,kind,country,observations\n"
GOOD = (
    HEADER
    + "r-1,2019-05-01T10:00:00+02:00,ann@example.org,ann_maps,Ann Example,wifi,DE,120\n"
    + "r-2,2019-05-02T08:30:00Z,ANN@Example.org,,,cell,de,4\n"
    + "r-3,2019-06-01T19:00:00-03:00,,bobby,,wifi,BR,\n"
    + 'r-4,2019-07-14T12:00:00+09:00,carla@example.net,,"Carla ""the"" Mapper, Osaka",bluetooth,JP,2\n'
)


def run(*args: str, stdin: str | bytes | None = None) -> subprocess.CompletedProcess:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run([sys.executable, str(SCRIPT), *args], input=data, capture_output=True, timeout=60, check=False)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def import_file(path: Path) -> str:
    out, err = StringIO(), StringIO()
    call_command("import_activities", str(path), stdout=out, stderr=err)
    return out.getvalue().strip()


@pytest.fixture
def location_services(db):
    call_command("load_config", str(EXAMPLES / "location-services.json"), stdout=StringIO())
    return Source.objects.get(slug="mls")


def test_the_export_becomes_records_of_the_common_schema(tmp_path):
    (tmp_path / "export.csv").write_text(GOOD, encoding="utf-8")

    result = run(str(tmp_path / "export.csv"))

    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [record["external_id"] for record in records] == ["report:r-1", "report:r-2", "report:r-3", "report:r-4"]
    assert records[0] == {
        "source": "mls",
        "external_id": "report:r-1",
        "type": "mls.report.submitted",
        "occurred_at": "2019-05-01T10:00:00+02:00",
        "actor": {"email": "ann@example.org", "username": "ann_maps", "name": "Ann Example"},
        "container": "DE",
        "title": "Submitted 120 Wi-Fi observations in DE",
        "data": {"report_id": "r-1", "kind": "wifi", "country": "DE", "observations": 120},
    }
    assert records[2]["actor"] == {"username": "bobby"} and "observations" not in records[2]["data"]
    assert records[3]["actor"]["name"] == 'Carla "the" Mapper, Osaka'
    assert b"records: 4  lines rejected: 0" in result.stderr


@pytest.mark.django_db
def test_imported_the_export_counts_each_stumbler_once_and_a_second_import_nothing(tmp_path, location_services):
    (tmp_path / "export.csv").write_text(GOOD, encoding="utf-8")
    assert run(str(tmp_path / "export.csv"), "--output", str(tmp_path / "out.jsonl")).returncode == 0

    assert import_file(tmp_path / "out.jsonl") == "created: 4  duplicate: 0  rejected: 0"
    assert import_file(tmp_path / "out.jsonl") == "created: 0  duplicate: 4  rejected: 0"
    # A second run of the script on the same export gives the same records: still nothing new.
    assert run(str(tmp_path / "export.csv"), "--output", str(tmp_path / "again.jsonl")).returncode == 0
    assert lines(tmp_path / "again.jsonl") == lines(tmp_path / "out.jsonl")
    assert import_file(tmp_path / "again.jsonl") == "created: 0  duplicate: 4  rejected: 0"

    assert Activity.objects.filter(source=location_services).count() == 4
    # Ann's two addresses differ only in case, and her first report names her nickname too: one person.
    assert Person.objects.filter(identities__activities__source=location_services).distinct().count() == 3
    metrics_recompute()
    summary = metrics_summary(run=metric_run_current(), day=date(2019, 12, 31), population=Population.VOLUNTEERS)
    assert {area["slug"]: area["active"] for area in summary["areas"]} == {"location-services": 3}
    assert summary["active"] == 3


@pytest.mark.django_db
def test_the_shipped_sample_export_imports_cleanly(tmp_path, location_services):
    result = run(str(EXAMPLES / "location-services.csv"), "-o", str(tmp_path / "sample.jsonl"))

    assert result.returncode == 0, result.stderr
    assert import_file(tmp_path / "sample.jsonl") == "created: 8  duplicate: 0  rejected: 0"


@pytest.mark.django_db
def test_each_malformed_line_is_named_with_its_reason_and_the_good_ones_still_import(tmp_path, location_services):
    export = (
        HEADER
        + "r-1,2019-05-01T10:00:00+02:00,ann@example.org,,,wifi,DE,1\n"
        + "r-2,yesterday,ann@example.org,,,wifi,DE,1\n"
        + "r-3,2019-05-01 10:00:00,ann@example.org,,,wifi,DE,1\n"
        + "r-4,2019-05-01T10:00:00Z,ann at example.org,,,wifi,DE,1\n"
        + "r-5,2019-05-01T10:00:00Z,,,Nobody,wifi,DE,1\n"
        + "r-6,2019-05-01T10:00:00Z,ann@example.org,,,gps,DE,1\n"
        + "r-7,2019-05-01T10:00:00Z,ann@example.org,,,wifi,Germany,1\n"
        + "r-8,2019-05-01T10:00:00Z,ann@example.org,,,wifi,DE,-3\n"
        + "r-1,2019-05-03T10:00:00Z,eve@example.org,,,wifi,DE,1\n"
        + "r 9,2019-05-01T10:00:00Z,ann@example.org,,,wifi,DE,1\n"
        + "r-10,2019-05-01T10:00:00Z,ann@example.org,,,wifi\n"
        + "r-11,2099-05-01T10:00:00Z,ann@example.org,,,wifi,DE,1\n"
        + "r-12,2019-05-04T10:00:00Z,ann@example.org,,,cell,DE,2\n"
    )
    (tmp_path / "export.csv").write_text(export, encoding="utf-8")

    result = run(str(tmp_path / "export.csv"), "-o", str(tmp_path / "out.jsonl"))

    assert result.returncode == 1
    errors = result.stderr.decode().splitlines()
    assert errors[:-1] == [
        "line 3: submitted_at 'yesterday' is not an ISO 8601 time such as 2019-03-02T18:04:11+01:00",
        "line 4: submitted_at '2019-05-01 10:00:00' has no UTC offset: add one (Z, +01:00), "
        "or pass --naive-utc if every time without one is UTC",
        "line 5: contributor_email 'ann at example.org' is not an e-mail address",
        "line 6: names no contributor: give contributor_email or contributor_nickname",
        "line 7: kind 'gps' is not one of wifi, cell, bluetooth",
        "line 8: country 'Germany' is not a two-letter country code such as DE",
        "line 9: observations '-3' is not a whole number",
        # A second report under an id already used is not the same report: neither may replace the other.
        "line 10: report_id 'r-1' is already on line 2",
        "line 11: report_id 'r 9' is not an id (1 to 200 letters, digits and - _ . :)",
        "line 12: 6 fields, the header has 8",
        "line 13: submitted_at '2099-05-01T10:00:00Z' is in the future",
    ]
    assert errors[-1] == "records: 2  lines rejected: 11"
    assert [record["external_id"] for record in lines(tmp_path / "out.jsonl")] == ["report:r-1", "report:r-12"]
    assert import_file(tmp_path / "out.jsonl") == "created: 2  duplicate: 0  rejected: 0"

    # The export fixed and converted again: the two already imported count once, the fixed ones are added.
    fixed = export.replace("yesterday", "2019-05-02T10:00:00Z").replace("2019-05-01 10:00:00", "2019-05-01T10:00:00Z")
    (tmp_path / "export.csv").write_text(fixed, encoding="utf-8")
    run(str(tmp_path / "export.csv"), "-o", str(tmp_path / "fixed.jsonl"))
    assert import_file(tmp_path / "fixed.jsonl") == "created: 2  duplicate: 2  rejected: 0"


def test_a_file_it_cannot_read_writes_nothing_and_says_why(tmp_path):
    result = run("-", stdin="id,when,who\n1,2019-01-01T00:00:00Z,ann@example.org\n")
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.decode().strip() == (
        "standard input: line 1: the header lacks report_id, submitted_at, kind, contributor_email or "
        "contributor_nickname (it has id, when, who); nothing written"
    )

    latin1 = (HEADER + "r-1,2019-05-01T10:00:00Z,ann@example.org,,Ann Weiß,wifi,DE,1\n").encode("latin-1")
    result = run("-", stdin=latin1)
    assert result.returncode == 2 and result.stdout == b""
    assert "line 2 is not UTF-8 text" in result.stderr.decode()

    result = run("-", stdin=HEADER + 'r-1,"2019-05-01T10:00:00Z,ann@example.org,,,wifi,DE,1\nr-2,2019-05-01T10:00:00Z\n')
    assert result.returncode == 1
    assert "line 2: not readable as CSV (lines 2–3)" in result.stderr.decode()

    assert run("-", "--source", "mls; rm -rf /", stdin=GOOD).returncode == 2
    assert run("-", "--batch-size", "1001", "--batches", str(tmp_path / "b"), stdin=GOOD).returncode == 2
    assert not (tmp_path / "b").exists()
    assert run(str(tmp_path / "missing.csv")).stderr.decode().startswith(f"cannot read {tmp_path / 'missing.csv'}")


@pytest.mark.django_db
def test_batches_of_at_most_1000_go_through_the_push_api_once(tmp_path, client, location_services):
    rows = [
        f"r-{n},2020-0{1 + n % 9}-{10 + n % 18}T12:00:00Z,stumbler{n % 40}@example.org,,,{('wifi', 'cell')[n % 2]},FR,{n}\n"
        for n in range(2501)
    ]
    (tmp_path / "export.csv").write_text(HEADER + "".join(rows), encoding="utf-8")
    _token, secret = source_token_create(source=location_services, name="MLS export")

    result = run(str(tmp_path / "export.csv"), "--batches", str(tmp_path / "batches"))

    assert result.returncode == 0, result.stderr
    batches = sorted((tmp_path / "batches").glob("batch-*.json"))
    assert [len(json.loads(batch.read_text())) for batch in batches] == [1000, 1000, 501]

    def push(batch: Path) -> dict:
        response = client.post(
            "/api/v1/activities/", data=batch.read_bytes(), content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {secret}",
        )
        assert response.status_code == 200, response.content
        return response.json()

    assert [push(batch) for batch in batches] == [
        {"created": 1000, "duplicate": 0, "rejected": []},
        {"created": 1000, "duplicate": 0, "rejected": []},
        {"created": 501, "duplicate": 0, "rejected": []},
    ]
    # Retrying after a timeout is safe: the same batch again counts nothing.
    assert push(batches[0]) == {"created": 0, "duplicate": 1000, "rejected": []}
    assert Activity.objects.filter(source=location_services).count() == 2501


def test_a_number_too_long_to_be_a_count_is_named_not_a_traceback(tmp_path, location_services):
    (tmp_path / "export.csv").write_text(HEADER + "r-1,2019-05-01T10:00:00Z,ann@example.org,,,wifi,DE," + "9" * 5000 + "\n",
                                         encoding="utf-8")
    result = run(str(tmp_path / "export.csv"), "-o", str(tmp_path / "out.jsonl"))
    assert result.returncode == 1
    assert "line 2: observations" in result.stderr.decode() and "Traceback" not in result.stderr.decode()
