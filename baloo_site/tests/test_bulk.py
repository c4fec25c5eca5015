"""Set-based writes: COPY's text format must carry every value exactly, whatever it holds."""

from datetime import UTC, datetime

import pytest
from django.db import connection

from baloo_site.bulk import copy_rows, copy_text, text_array

AWKWARD = [
    (1, "plain", None, True),
    (2, "tab\there", "new\nline", False),
    (3, "back\\slash \\N", "carriage\rreturn", None),
    (4, "stand-ins \x1f \x1e \x1d", "", True),
    (5, "Zoë ✓ 名前 😀", "ü", False),  # sent as UTF-8
]


def test_values_are_escaped_and_none_becomes_null():
    assert copy_text([(1, "a\tb", None), (2, "c\\d\ne", "")]) == "1\ta\\tb\t\\N\n2\tc\\\\d\\ne\t\n"


def test_a_value_holding_a_stand_in_separator_is_written_exactly():
    # The fast path joins with control characters; values holding them take the careful path.
    assert copy_text([(1, "x\x1fy", None)]) == "1\tx\x1fy\t\\N\n"
    assert copy_text([(1, "x\x1dy"), (2, None)]) == "1\tx\x1dy\n2\t\\N\n"


def test_times_and_booleans_are_written_as_postgresql_reads_them():
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert copy_text([(moment, True, False)]) == "2026-01-02 03:04:05+00:00\tTrue\tFalse\n"


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_awkward_values_come_back_from_postgresql_exactly():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE bulk_probe (id int, a text, b text, c boolean)")
        copy_rows("bulk_probe", ["id", "a", "b", "c"], AWKWARD)
        cursor.execute("SELECT id, a, b, c FROM bulk_probe ORDER BY id")
        assert cursor.fetchall() == AWKWARD


def test_rows_sharing_a_time_and_rows_with_their_own_are_all_written_exactly():
    shared, own = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2026, 1, 2, 3, 4, 6, 7, tzinfo=UTC)
    assert copy_text([(1, shared, None), (2, shared, own), (3, own, shared)]) == (
        "1\t2026-01-02 03:04:05+00:00\t\\N\n"
        "2\t2026-01-02 03:04:05+00:00\t2026-01-02 03:04:06.000007+00:00\n"
        "3\t2026-01-02 03:04:06.000007+00:00\t2026-01-02 03:04:05+00:00\n"
    )


def test_ordered_rows_are_written_in_the_order_of_their_leading_values():
    rows = [("2", "b"), ("1", "bb"), ("2", "a"), ("1", "b")]
    assert copy_text(rows, ordered=True) == "1\tb\n1\tbb\n2\ta\n2\tb\n"
    assert copy_text(rows) == "2\tb\n1\tbb\n2\ta\n1\tb\n"
    assert copy_text([("1", "b\x1f"), ("1", "a")], ordered=True) == "1\ta\n1\tb\x1f\n"  # the careful path too


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's arrays")
@pytest.mark.parametrize(
    "values", [["a", "b"], ["", "x", ""], [""], [], ["holds \x1f the separator", "b"], ["é", "back\\slash", "quote'd"]]
)
def test_a_text_array_parameter_arrives_exactly(values):
    sql, param = text_array(values)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sql}", [param])
        assert cursor.fetchone()[0] == values
