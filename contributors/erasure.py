"""Erasure that leaves nothing: a forgotten person's addresses, user names, ids and names are taken
out of every row that mentions them, not only out of their own record.

Other people's activities mention them (a Bugzilla bug assigned to them, a comment thanking them, a
SUMO question they solved), so do audit rows, claims, suggestions and export audits. `traces_erase`
finds those rows with one scan per table (`LIKE`; one regular expression on PostgreSQL), so the
database does the searching, and rewrites only the rows found, in one bulk update per column.

What is replaced, by `FORGOTTEN`:
- a whole value (a JSON string, an object key, a column) equal to one of theirs, compared
  case-insensitively, whatever its length;
- inside longer text, an occurrence of one of their values of at least `MIN_IN_TEXT` characters,
  bounded on both sides: not inside a longer word, address or user name (`joann@…` is not
  `ann@…`, `ann-marie` is not `ann`), so a user name `a` never wipes every `a`;
- in JSON, a number equal to one of their numeric ids of at least `MIN_ID_DIGITS` digits.
JSON is rewritten parsed, never as text, so escapes (quotes, non-ASCII written `\\u00e9` or as is)
cannot hide a value or be broken by the replacement.

Left as they are, on purpose: other persons' own identities and names (two people may share a name
or, in different systems, a user name), sign-in accounts (single sign-on owns them), and the keys
that counting and de-duplication use — an activity's source, external id and container.
"""

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection
from django.db.models import JSONField, Model

FORGOTTEN = "[forgotten]"
# Shorter values ("a", "jo", "42") are replaced only where they are a whole value.
MIN_IN_TEXT = 3
# A shorter number in a payload is more likely a count than this person's account id.
MIN_ID_DIGITS = 5


@dataclass
class Traces:
    """The values that identify a person, and how to replace them in text and in JSON."""

    values: frozenset[str]

    def __post_init__(self) -> None:
        values = {value.strip() for value in self.values if value and value.strip() and value.strip() != FORGOTTEN}
        self.values = frozenset(values)
        self._whole = {value.casefold() for value in values}
        self._numbers = {int(value) for value in values if value.isdigit() and len(value) >= MIN_ID_DIGITS}
        in_text = sorted((value for value in values if len(value) >= MIN_IN_TEXT), key=len, reverse=True)
        self._pattern = (
            re.compile(
                # Not glued to a word, an address or a hyphenated name on either side; a full stop
                # after it ends a sentence, not a domain.
                r"(?<![\w.+-])(?:" + "|".join(map(re.escape, in_text)) + r")(?![\w@-])(?!\.\w)",
                re.IGNORECASE,
            )
            if in_text
            else None
        )

    def text(self, value: str) -> str:
        if value.strip().casefold() in self._whole:
            return FORGOTTEN
        return self._pattern.sub(FORGOTTEN, value) if self._pattern else value

    def json(self, value):
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(key): self.json(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, int) and not isinstance(value, bool) and value in self._numbers:
            return FORGOTTEN
        return value

    def needles(self, *, as_json: bool) -> set[tuple[str, bool]]:
        """What to search a column for so that every row holding one of the values is found (a
        superset, checked exactly in Python afterwards): (text, whether it must be the whole column)."""
        needles: set[tuple[str, bool]] = set()
        for value in self.values:
            for form in {value, value.casefold(), value.lower(), value.upper()}:
                written = {form}
                if as_json:
                    written |= {json.dumps(form)[1:-1], json.dumps(form, ensure_ascii=False)[1:-1]}
                for text in written:
                    if len(value) >= MIN_IN_TEXT:
                        needles.add((text, False))
                    elif as_json:
                        needles.add((f'"{text}"', False))
                    else:
                        needles.add((text, True))
        return needles


def _like(text: str, whole: bool) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped if whole else f"%{escaped}%"


def _regex(needles: set[tuple[str, bool]]) -> str:
    """One case-insensitive PostgreSQL regular expression for all needles: the text is read once per
    row, where a list of ILIKE patterns would read it once per pattern."""
    alternatives = set()
    for text, whole in needles:
        # In PostgreSQL's regular expressions a backslash before a character that is not a letter
        # or digit stands for that character.
        escaped = "".join(char if char.isalnum() else "\\" + char for char in text)
        alternatives.add(f"^{escaped}$" if whole else escaped)
    return "|".join(sorted(alternatives))


def traces_erase(*, traces: Traces, targets: Iterable[tuple[type[Model], Sequence[str]]]) -> int:
    """Replace the traces in the given columns of every row holding them; return how many rows changed."""
    if not traces.values:
        return 0
    changed = 0
    for model, field_names in targets:
        changed += _erase_in(model, [model._meta.get_field(name) for name in field_names], traces)
    return changed


def _erase_in(model: type[Model], fields: list, traces: Traces) -> int:
    quote = connection.ops.quote_name
    table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
    conditions, params = [], []
    for field in fields:
        column = quote(field.column)
        needles = traces.needles(as_json=isinstance(field, JSONField))
        if connection.vendor == "postgresql":
            conditions.append(f"{column}::text ~* %s")
            params.append(_regex(needles))
        else:
            # SQLite's LIKE ignores the case of ASCII letters; `needles` spells out other cases.
            conditions.extend(f"{column} LIKE %s ESCAPE '\\'" for _needle in needles)
            params.extend(_like(text, whole) for text, whole in sorted(needles))
    columns = ", ".join(quote(field.column) for field in fields)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {pk}, {columns} FROM {table} WHERE {' OR '.join(conditions)}", params)
        rows = cursor.fetchall()

    updates: dict[str, list[Model]] = {field.name: [] for field in fields}
    changed_rows = set()
    for pk_value, *values in rows:
        for field, value in zip(fields, values, strict=True):
            if value is None:
                continue
            if isinstance(field, JSONField):
                before = json.loads(value) if isinstance(value, str) else value
                after = traces.json(before)
            else:
                before, after = value, traces.text(value)
                if field.max_length:
                    after = after[: field.max_length]
            if after != before:
                updates[field.name].append(model(pk=pk_value, **{field.name: after}))
                changed_rows.add(pk_value)
    for name, objects in updates.items():
        if objects:
            model.objects.bulk_update(objects, [name], batch_size=500)
    return len(changed_rows)
