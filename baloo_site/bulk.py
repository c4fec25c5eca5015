"""Set-based writes for large batches: PostgreSQL COPY, or executemany elsewhere (SQLite).

Django's bulk_create builds model instances and one big INSERT per batch; for a million rows the
Python side dominates. These helpers write plain tuples straight to the table instead.
"""

import gc
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from django.db import connection
from django.db.models import Model


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


@contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Pause CPython's cycle collector while a large batch is processed.

    A big import allocates millions of short-lived dicts and tuples that form no reference cycles;
    the collector would otherwise walk the whole heap again and again (a third of the parse time).
    Reference counting still frees everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# COPY's text format: tab-separated, \N for NULL, and backslash escapes for what would break a line.
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_COPY_ESCAPES = str.maketrans(_ESCAPES)
# Stand-ins while a batch is joined: control characters no real value holds (checked).
_FIELD, _ROW, _NULL = "\x1f", "\x1e", "\x1d"


def _copy_field(value) -> str:
    if value.__class__ is str:
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.translate(_COPY_ESCAPES)
        return value
    if value is None:
        return "\\N"
    return str(value).translate(_COPY_ESCAPES)


def copy_text(rows: Sequence[Sequence], *, ordered: bool = False) -> str:
    """Rows in COPY's text format: None becomes NULL, everything else its str() (datetimes,
    numbers and booleans as PostgreSQL reads them).

    The whole batch is joined with stand-in separators and escaped in one pass per character, in
    C; if a value happens to hold a stand-in, the batch is written value by value instead.
    """
    if not rows:
        return ""
    try:
        lines = list(map(_FIELD.join, rows))  # rows of text only: joined without a Python loop
    except TypeError:
        lines = [_FIELD.join(values) for values in _texts(rows)]
    if ordered:
        lines.sort()  # the stand-in separator sorts before any character a value holds
    text = _ROW.join(lines)
    if (
        text.count(_FIELD) != len(rows) * (len(rows[0]) - 1)
        or text.count(_ROW) != len(rows) - 1
        or (_NULL in text and text.count(_NULL) != sum(row.count(None) for row in rows))
    ):
        lines = ["\t".join([_copy_field(value) for value in row]) + "\n" for row in rows]
        return "".join(sorted(lines) if ordered else lines)
    for special, escaped in _ESCAPES.items():  # the backslash first
        if special in text:
            text = text.replace(special, escaped)
    return text.replace(_FIELD, "\t").replace(_ROW, "\n").replace(_NULL, "\\N") + "\n"


def text_array(values: Sequence[str]) -> tuple[str, object]:
    """A text[] query parameter for PostgreSQL: the SQL that stands for it, and the parameter.

    psycopg2 writes a list as ARRAY['…', '…', …], which costs both sides dearly for tens of
    thousands of values; they go instead as one string that PostgreSQL splits (unless a value holds
    the separator, or the string would be empty)."""
    joined = _FIELD.join(values)
    if joined and joined.count(_FIELD) == len(values) - 1:
        return "string_to_array(%s, E'\\x1f')", joined
    return "%s::text[]", list(values)


def _texts(rows: Sequence[Sequence]) -> Iterator[list[str]]:
    """Each row's values as text (None as the NULL stand-in). A batch's rows mostly share their
    times (created now), and writing a datetime costs far more than looking it up: each distinct
    one is written once."""
    times: dict[datetime, str] = {}
    for row in rows:
        texts = []
        for value in row:
            if value.__class__ is str:
                texts.append(value)
            elif value is None:
                texts.append(_NULL)
            elif value.__class__ is datetime:
                text = times.get(value)
                if text is None:
                    text = times[value] = str(value)
                texts.append(text)
            else:
                texts.append(str(value))
        yield texts


def copy_rows(table: str, columns: Sequence[str], rows: Sequence[Sequence], *, ordered: bool = False) -> None:
    """Write rows into `table` with COPY (PostgreSQL only). None becomes NULL.

    `ordered` writes them in the order of their values, first column first: when the leading
    columns are an index's key, PostgreSQL then fills that index in order, which is much less work
    than at random (a quarter of a large import's time). Values are compared as text."""
    copy_from_text(table, columns, copy_text(rows, ordered=ordered))


def copy_from_text(table: str, columns: Sequence[str], text: str) -> None:
    """Write rows given as COPY text (see `copy_text`) into `table` (PostgreSQL only)."""
    column_list = ", ".join(connection.ops.quote_name(column) for column in columns)
    # The raw psycopg2 cursor, wrapped so its errors become Django's (IntegrityError…). The text
    # goes encoded (the connection speaks UTF-8; a StringIO would cost 15 times as much) and in one
    # read: psycopg2 takes the GIL for every chunk it reads, and with other threads busy each chunk
    # could wait for it.
    data = text.encode()
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.cursor.copy_expert(
            f"COPY {connection.ops.quote_name(table)} ({column_list}) FROM STDIN",
            io.BytesIO(data),
            size=max(len(data), 8192),
        )


def insert_rows_returning_ids(model: type[Model], columns: Sequence[str], rows: Sequence[Sequence]) -> list[int]:
    """Insert rows into the model's table and return their new primary keys, in order."""
    if not rows:
        return []
    table = model._meta.db_table
    if is_postgresql():
        with connection.cursor() as cursor:
            # The sequence is looked up once: inside the series it would be looked up for every row.
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            cursor.execute(
                "SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [cursor.fetchone()[0], len(rows)]
            )
            ids = [row[0] for row in cursor.fetchall()]
        copy_rows(table, ["id", *columns], [(new_id, *row) for new_id, row in zip(ids, rows, strict=True)])
        return ids
    objects = model._default_manager.bulk_create(
        [model(**dict(zip(columns, row, strict=True))) for row in rows], batch_size=2000
    )
    return [obj.pk for obj in objects]


def update_rows(
    table: str, key: str, columns: Sequence[str], rows: Sequence[Sequence], *, types: Sequence[str]
) -> None:
    """Set `columns` of the rows whose `key` matches, from (key, *values) tuples, in one statement.

    Django's bulk_update writes one CASE per column listing every row, which grows quadratically;
    here PostgreSQL joins a COPY-filled temporary table instead (`types` are its column types:
    key first). Elsewhere, one executemany.
    """
    if not rows:
        return
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(column)} = %s" for column in columns)
    if not is_postgresql():
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {quote(table)} SET {assignments} WHERE {quote(key)} = %s",
                [(*row[1:], row[0]) for row in rows],
            )
        return
    names = [key, *columns]
    stage = f"baloo_update_{table}"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {quote(stage)}")
        definition = ", ".join(f"{quote(name)} {kind}" for name, kind in zip(names, types, strict=True))
        cursor.execute(f"CREATE TEMPORARY TABLE {quote(stage)} ({definition}) ON COMMIT DROP")
    copy_rows(stage, names, rows)
    with connection.cursor() as cursor:
        # Autovacuum never measures a temporary table: without this the planner guesses hundreds of
        # rows, and hashes the whole target table to update a handful.
        cursor.execute(f"ANALYZE {quote(stage)}")
        sets = ", ".join(f"{quote(column)} = s.{quote(column)}" for column in columns)
        cursor.execute(
            f"UPDATE {quote(table)} t SET {sets} FROM {quote(stage)} s WHERE t.{quote(key)} = s.{quote(key)}"
        )
        cursor.execute(f"DROP TABLE {quote(stage)}")
