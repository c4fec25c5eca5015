"""CSV that is safe to open in a spreadsheet: every CSV Baloo writes goes through `csv_writer`.

Names, titles and identities come from people outside (a contributor's display name, a pushed
activity's title, a configured area's name). A spreadsheet opening a cell that starts with `=`, `+`,
`-` or `@` runs it as a formula (`=HYPERLINK(…)` leaking data, `=cmd|…` running a program); a
leading tab or carriage return can hide that first character from a check and not from the
spreadsheet. As OWASP recommends ("CSV injection"), such a cell gets a single quote in front, which
spreadsheets show as text and do not run.

A number stays a number: `-3` or `+1.5e3` is read as a value, never run, and a quote would turn a
column of counts into text.
"""

import csv
import re
from collections.abc import Iterable
from typing import Any, Protocol

# The ASCII triggers (OWASP), and their full-width and small forms, which some spreadsheets fold to
# ASCII; a tab or carriage return first counts too.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20", "\ufe66", "\ufe62", "\ufe63", "\ufe6b")
# Spreadsheets skip leading blanks and control characters before reading a formula, so a trigger
# after any of them (a space, a line feed, a no-break or ideographic space, a NUL…) counts as first.
FORMULA_AFTER_BLANKS = re.compile(
    r"^[\s\x00-\x1f\x7f\u00a0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff]*[" + re.escape("".join(FORMULA_STARTS)) + "]"
)
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def csv_cell(value: Any) -> Any:
    """`value` as a cell no spreadsheet runs: text starting like a formula is prefixed with `'`."""
    if isinstance(value, str) and FORMULA_AFTER_BLANKS.match(value) and not NUMBER.fullmatch(value):
        return "'" + value
    return value


class SafeCSVWriter:
    """`csv.writer`, with every cell passed through `csv_cell`; returns what the file's `write` returns."""

    def __init__(self, file: _Writable, **options: Any) -> None:
        self._writer = csv.writer(file, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([csv_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(file: _Writable, **options: Any) -> SafeCSVWriter:
    """A CSV writer for `file` (options as `csv.writer`'s) whose cells no spreadsheet runs as formulas."""
    return SafeCSVWriter(file, **options)
