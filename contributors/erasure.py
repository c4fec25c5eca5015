"""Erasure that leaves nothing: a forgotten person's addresses, user names, ids and names are taken
out of every row that mentions them, not only out of their own record.

Other people's activities mention them (a Bugzilla bug assigned to them, a comment thanking them, a
SUMO question they solved), so do audit rows, claims, suggestions and export audits. `traces_erase`
finds those rows with one scan per table (`LIKE` on the ASCII letters and digits of each value, which
stay as they are however the rest is written), so the database does the searching, and rewrites only
the rows found, in one bulk update per column. Browser sessions are decoded one by one
(`sessions_erase`).

Values are compared folded (`fold`): case (`JÖRG STRAUSS` is `Jörg Strauß`), compatibility forms
(full width), composed and decomposed accents, runs of white space, HTML character references
(`Strau&szlig;`, `&#64;`) and percent escapes (`%40`) all count as what they stand for. Only the
characters that spelled the value are replaced; the rest of the text stays as it was written.

What is replaced, by `FORGOTTEN`:
- a whole value (a JSON string, an object key, a column) equal to one of theirs, compared
  case-insensitively, whatever its length;
- inside longer text, an occurrence of one of their values of at least `MIN_IN_TEXT` characters,
  bounded on both sides: not inside a longer word, address or user name (`joann@…` is not
  `ann@…`, `ann-marie` is not `ann`), so a user name `a` never wipes every `a`;
- in JSON, a number equal to one of their numeric ids of at least `MIN_ID_DIGITS` digits;
- a full name written family name first ("Strauß, Jörg"), see `name_forms`.
JSON is rewritten parsed, never as text, so escapes (quotes, non-ASCII written `\\u00e9` or as is)
cannot hide a value or be broken by the replacement.

Left as they are, on purpose: other persons' own identities and names (two people may share a name
or, in different systems, a user name), sign-in accounts (single sign-on owns them), and the keys
that counting and de-duplication use — an activity's source, external id and container.

Not found: a value whose every letter is escaped (`&#106;&#111;…`, `%6A%6F…`: deliberate obfuscation,
the database cannot be asked for it short of reading every row), escapes of escapes, a value inside
something encoded (base64, a signed token such as the sign-in provider's id token kept in the
person's own session). A value with no ASCII letters or digits (a name in another script) makes
every row of each table be read, in chunks: slower, still complete.
"""

import html
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import import_module
from urllib.parse import unquote

from django.apps import apps
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.db.models import JSONField, Model

FORGOTTEN = "[forgotten]"
# Shorter values ("a", "jo", "42") are replaced only where they are a whole value.
MIN_IN_TEXT = 3
# A shorter number in a payload is more likely a count than this person's account id.
MIN_ID_DIGITS = 5
# Session keys that are the signed-in account's own (ids, not names): never rewritten.
SESSION_KEYS_KEPT = ("_auth_user_id", "_auth_user_backend", "_auth_user_hash")

# One unit of text as written: an HTML character reference, the percent escapes of one UTF-8
# character, a run of white space, or one character (combining marks are joined to it below).
_UNIT = re.compile(
    r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
    r"|%[0-9A-Fa-f]{2}(?:%[89ABab][0-9A-Fa-f])*|\s+|.",
    re.DOTALL,
)
# The letters and digits of a value that survive every way of writing it but full width (see
# `Traces.conditions`). "ss" may be written "ß", so it splits too.
_FRAGMENT_SEPARATOR = re.compile(r"[^0-9A-Za-z]+|[sS][sS]")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def fold(text: str) -> str:
    """How text compares: HTML references and percent escapes decoded, compatibility forms (full
    width, ligatures) and case folded (`ß` is `ss`), composed (NFC), white space collapsed."""
    return " ".join(_fold(unquote(html.unescape(text))).split())


def _folded_units(text: str) -> tuple[str, list[int], list[int]]:
    """`fold` of text, with where each folded character was written: its unit's start and end."""
    folded, starts, ends = [], [], []
    position = 0
    while position < len(text):
        unit = _UNIT.match(text, position)
        end = unit.end()
        while end < len(text) and unicodedata.combining(text[end]):
            end += 1
        written = text[position:end]
        if written.startswith("&"):
            written = html.unescape(written)
        elif written.startswith("%"):
            written = unquote(written)
        for char in " " if written.isspace() else _fold(written):
            if char.isspace():
                if folded and folded[-1] == " ":
                    ends[-1] = end
                    continue
                char = " "
            folded.append(char)
            starts.append(position)
            ends.append(end)
        position = end
    return "".join(folded), starts, ends


def name_forms(name: str) -> set[str]:
    """A full name as lists write it too, family name first: "Strauß, Jörg" for "Jörg Strauß"."""
    words = name.split()
    if len(words) < 2:
        return {name}
    return {name, f"{words[-1]}, {' '.join(words[:-1])}", f"{words[-1]} {' '.join(words[:-1])}"}


@dataclass
class Traces:
    """The values that identify a person, and how to replace them in text and in JSON."""

    values: frozenset[str]

    def __post_init__(self) -> None:
        values = {value.strip() for value in self.values if value and value.strip() and value.strip() != FORGOTTEN}
        self.values = frozenset(values)
        self._whole = {fold(value) for value in values} - {""}
        self._numbers = {int(value) for value in values if value.isdigit() and len(value) >= MIN_ID_DIGITS}
        self._in_text = sorted(
            {fold(value) for value in values if len(value) >= MIN_IN_TEXT} - {""}, key=len, reverse=True
        )
        self._pattern = (
            re.compile(
                # Not glued to a word, an address or a hyphenated name on either side; a full stop
                # after it ends a sentence, not a domain. Read on the folded text.
                r"(?<![\w.+-])(?:" + "|".join(map(re.escape, self._in_text)) + r")(?![\w@-])(?!\.\w)"
            )
            if self._in_text
            else None
        )

    def text(self, value: str) -> str:
        folded = fold(value)
        if folded in self._whole:
            return FORGOTTEN
        if not self._pattern or not any(needle in folded for needle in self._in_text):
            return value
        folded, starts, ends = _folded_units(value)
        spans: list[list[int]] = []
        for match in self._pattern.finditer(folded):
            start, end = starts[match.start()], ends[match.end() - 1]
            if spans and start < spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        if not spans:
            return value
        pieces, previous = [], 0
        for start, end in spans:
            pieces += [value[previous:start], FORGOTTEN]
            previous = end
        return "".join(pieces) + value[previous:]

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

    def conditions(self, *, as_json: bool) -> list[list[tuple[str, bool]]] | None:
        """What to search a column for so that every row holding one of the values is found (a
        superset, checked exactly in Python afterwards), or None when only reading every row will do.

        Each inner list is a condition: texts that must all be in the column ((text, whether it must be
        the whole column)); a row is read when it meets any condition. A value of at least
        `MIN_IN_TEXT` characters is sought by its ASCII letters and digits, which stay as they are
        whatever the case, accents, white space, HTML references or percent escapes around them, and
        by its longest such fragment in full width. A shorter value is sought only as a whole value."""
        conditions: list[list[tuple[str, bool]]] = []
        for value in self.values:
            if len(value) < MIN_IN_TEXT:
                for form in {value, value.casefold(), value.lower(), value.upper()}:
                    for text in _written(form, as_json=as_json):
                        conditions.append([(f'"{text}"', False)] if as_json else [(text, True)])
                continue
            fragments = sorted(
                {part for part in _FRAGMENT_SEPARATOR.split(unicodedata.normalize("NFKC", value)) if len(part) >= 2},
                key=len,
                reverse=True,
            )
            if not fragments:
                return None
            conditions.append([(fragment, False) for fragment in fragments])
            longest = fragments[0]
            for form in {longest.lower(), longest.upper(), longest.lower()[1:]} - {""}:
                wide = "".join(chr(ord(char) + 0xFEE0) for char in form)
                conditions.extend([(text, False)] for text in _written(wide, as_json=as_json))
        return conditions


def _written(text: str, *, as_json: bool) -> set[str]:
    """The ways a column may hold text: as is, and inside JSON with or without \\u escapes."""
    if not as_json:
        return {text}
    return {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}


def _like(text: str, whole: bool) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped if whole else f"%{escaped}%"


def erasure_targets() -> list[tuple[type[Model], tuple[str, ...]]]:
    """Every column outside a person's own record that may mention them. Each model says which of
    its columns may (`erasure_fields`), so this app needs to know none of the others; Django's admin
    history, a model Baloo does not define, is named here."""
    targets = [(model, model.erasure_fields) for model in apps.get_models() if getattr(model, "erasure_fields", ())]
    return [*targets, (apps.get_model("admin", "LogEntry"), ("object_repr", "change_message"))]


def traces_erase(*, traces: Traces, targets: Iterable[tuple[type[Model], Sequence[str]]]) -> int:
    """Replace the traces in the given columns of every row holding them; return how many rows changed."""
    if not traces.values:
        return 0
    changed = 0
    for model, field_names in targets:
        changed += _erase_in(model, [model._meta.get_field(name) for name in field_names], traces)
    return changed


def _where(fields: list, traces: Traces) -> tuple[str, list[str]]:
    quote = connection.ops.quote_name
    # PostgreSQL's ILIKE and SQLite's LIKE both ignore the case of ASCII letters, all the fragments need.
    like = "{} ILIKE %s" if connection.vendor == "postgresql" else "{} LIKE %s ESCAPE '\\'"
    cast = "::text" if connection.vendor == "postgresql" else ""
    alternatives, params = [], []
    for field in fields:
        conditions = traces.conditions(as_json=isinstance(field, JSONField))
        if conditions is None:
            return "", []
        column = quote(field.column) + cast
        for condition in conditions:
            alternatives.append("(" + " AND ".join(like.format(column) for _text in condition) + ")")
            params.extend(_like(text, whole) for text, whole in condition)
    return " OR ".join(alternatives), params


def _erase_in(model: type[Model], fields: list, traces: Traces) -> int:
    quote = connection.ops.quote_name
    table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
    where, params = _where(fields, traces)
    columns = ", ".join(quote(field.column) for field in fields)
    updates: dict[str, list[Model]] = {field.name: [] for field in fields}
    changed_rows = set()
    # Every row is read when a value has no letters to look for (a name in another script); in chunks.
    with connection.chunked_cursor() as cursor:
        cursor.execute(f"SELECT {pk}, {columns} FROM {table}" + (f" WHERE {where}" if where else ""), params)
        while rows := cursor.fetchmany(2000):
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


def sessions_erase(*, traces: Traces) -> int:
    """Drop what browser sessions keep about the person (a refused sign-in keeps the address it was
    refused for, to say why): each stored session is decoded, and the keys whose values mention them
    go; a session left empty goes. Nobody is signed out. Return how many sessions changed."""
    engine = import_module(settings.SESSION_ENGINE)
    store_class = engine.SessionStore
    if not traces.values or not hasattr(store_class, "get_model_class"):
        return 0  # sessions kept only in a cache or a cookie are not Baloo's to read
    changed = 0
    decoder = store_class()
    for session in store_class.get_model_class().objects.iterator():
        data = decoder.decode(session.session_data)
        kept = {key: value for key, value in data.items() if key in SESSION_KEYS_KEPT or traces.json(value) == value}
        if kept == data:
            continue
        if kept:
            session.session_data = decoder.encode(kept)
            session.save(update_fields=["session_data"])
        else:
            session.delete()
        store = store_class(session_key=session.session_key)
        if hasattr(store, "cache_key"):  # cached_db: the cache must not serve the old data back
            caches[settings.SESSION_CACHE_ALIAS].delete(store.cache_key)
        changed += 1
    return changed
