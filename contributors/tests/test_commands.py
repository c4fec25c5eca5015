"""`import_people` and `suggest_merges` as an operator runs them."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from activities.tests.factories import SourceFactory
from contributors.models import Person

pytestmark = pytest.mark.django_db


def test_import_people_prints_what_it_did_and_names_bad_lines(tmp_path):
    SourceFactory(slug="sumo", kind="sumo")
    path = tmp_path / "directory.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"id": "E1", "name": "Ann", "emails": ["ann@example.org"], "usernames": {"sumo": "annex"}, "staff": True}),
                json.dumps({"id": "E2", "name": "Bob", "emails": ["bob@example.org"]}),
                json.dumps({"id": "E3", "name": "Nobody", "emails": ["nobody"]}),
            ]
        )
    )
    out, err = StringIO(), StringIO()
    call_command("import_people", str(path), stdout=out, stderr=err)

    assert "created: 2  updated: 0  merged: 0  left the directory: 0  staff periods changed: 1  rejected: 1" in out.getvalue()
    assert err.getvalue().startswith("line 3: 'nobody' is not an e-mail address")
    assert Person.objects.get(directory_id="E1").identities.count() == 2


def test_import_people_needs_a_readable_file():
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_people", "/no/such/file")


def test_suggest_merges_reports_how_many():
    out = StringIO()
    call_command("suggest_merges", stdout=out)
    assert "new suggestions: 0" in out.getvalue()
