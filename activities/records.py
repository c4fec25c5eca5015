"""Reading one activity record of the common schema (JSON Lines files and the push API).

Every check raises `RecordError` with a reason a person understands; the caller adds the line
number or array index. The shape is the public contract documented in docs/contracts.md.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

import orjson
from django.conf import settings

from activities.validators import is_activity_type

REQUIRED_FIELDS = ("source", "external_id", "type", "occurred_at", "actor")
MAX_LENGTHS = {"external_id": 255, "type": 100, "container": 255, "url": 1000}
TITLE_MAX = 500
NAME_MAX = 200
KEY_MAX = 320
# A little slack for clocks that run fast; anything later is a mistake in the record.
FUTURE_TOLERANCE = timedelta(days=1)


class RecordError(ValueError):
    """A record that cannot be accepted, with the reason."""


@dataclass(slots=True, frozen=True)
class OversizedRecord:
    """Stands in for a record too large to read; only its size is known."""

    size: int


@dataclass(slots=True)
class ActivityRecord:
    """A valid activity record, normalised: times in UTC, identity keys trimmed and case-folded."""

    source: str
    external_id: str
    type: str
    occurred_at: datetime
    email: str | None
    username: str | None
    uid: str | None
    name: str
    container: str
    url: str
    title: str
    data_json: str
    is_bot: bool


WHITESPACE = re.compile(r"\s")


def is_email(value: str) -> bool:
    """An identity key is an e-mail when it has exactly one `@` and no whitespace (it need not receive mail)."""
    return value.count("@") == 1 and WHITESPACE.search(value) is None


def looks_like_bot(username: str | None, email: str | None, name: str) -> bool:
    """GitHub names its apps `something[bot]`, in logins, names and noreply addresses alike."""
    return bool(
        (username and username.endswith("[bot]"))
        or (email and "[bot]@" in email)
        or name.endswith("[bot]")
    )


def _text(record: dict, field: str, *, required: bool = False, nul_possible: bool = True) -> str:
    value = record.get(field)
    if value is None:
        if required:
            raise RecordError(f"{field} is missing")
        return ""
    if value.__class__ is not str:
        if not isinstance(value, str):
            raise RecordError(f"{field} must be a string, not {_json_type(value)}")
        value = str(value)
    value = value.strip()
    if required and not value:
        raise RecordError(f"{field} is empty")
    if nul_possible and "\x00" in value:
        raise RecordError(f"{field} contains a NUL character")
    limit = MAX_LENGTHS.get(field)
    if limit and len(value) > limit:
        raise RecordError(f"{field} is {len(value)} characters long; the limit is {limit}")
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _actor_key(actor: dict, field: str, nul_possible: bool = True) -> str | None:
    value = actor.get(field)
    if value is None:
        return None
    if value.__class__ is not str:
        if field == "uid" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        elif not isinstance(value, str):
            raise RecordError(f"actor.{field} must be a string, not {_json_type(value)}")
    value = value.strip()
    if nul_possible and "\x00" in value:
        raise RecordError(f"actor.{field} contains a NUL character")
    if len(value) > KEY_MAX:
        raise RecordError(f"actor.{field} is {len(value)} characters long; the limit is {KEY_MAX}")
    return value or None


def parse_occurred_at(value: Any, *, now: datetime) -> datetime:
    if not isinstance(value, str):
        raise RecordError(f"occurred_at must be an ISO 8601 string, not {_json_type(value)}")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise RecordError(f"occurred_at {value[:40]!r} is not an ISO 8601 date and time") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RecordError(f"occurred_at {value[:40]!r} has no UTC offset; add one such as +02:00 or Z")
    moment = moment.astimezone(UTC)
    if moment > now + FUTURE_TOLERANCE:
        raise RecordError(f"occurred_at {value[:40]!r} is in the future")
    return moment


def _activity_type(value: str) -> bool:
    """Whether a type is shaped <system>.<object>.<action>; a data set has few types, so remembered."""
    known = _ACTIVITY_TYPES.get(value)
    if known is None:
        known = is_activity_type(value)
        if len(_ACTIVITY_TYPES) < 10_000:
            _ACTIVITY_TYPES[value] = known
    return known


_ACTIVITY_TYPES: dict[str, bool] = {}


def record_parse(
    raw: dict | str | bytes | OversizedRecord, *, now: datetime, max_bytes: int | None = None
) -> ActivityRecord:
    """Check one record against the contract and return it normalised, or raise RecordError.

    `max_bytes` defaults to the BALOO_MAX_RECORD_BYTES setting (a caller checking many records
    reads it once).
    """
    limit = max_bytes or settings.BALOO_MAX_RECORD_BYTES
    if isinstance(raw, OversizedRecord):
        raise RecordError(f"the record is {raw.size:,} bytes; the limit is {limit:,} bytes")
    if isinstance(raw, (bytes, str)):
        if len(raw) > limit:
            raise RecordError(f"the record is {len(raw):,} bytes; the limit is {limit:,} bytes")
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise RecordError(f"not valid JSON ({error})") from None
        # JSON text holds a NUL only as the escape \u0000: without one, no field can contain it.
        nul_possible = (b"\\u0000" if isinstance(raw, bytes) else "\\u0000") in raw
    else:
        record = raw
        nul_possible = True
    if not isinstance(record, dict):
        raise RecordError(f"a record must be a JSON object, not {_json_type(record)}")
    get = record.get
    required = (get("source"), get("external_id"), get("type"), get("occurred_at"), get("actor"))
    if None in required or "" in required:
        missing = [field for field in REQUIRED_FIELDS if get(field) in (None, "")]
        raise RecordError("missing required field" + ("s" if len(missing) > 1 else "") + ": " + ", ".join(missing))

    source = _text(record, "source", required=True, nul_possible=nul_possible)
    external_id = _text(record, "external_id", required=True, nul_possible=nul_possible)
    activity_type = _text(record, "type", required=True, nul_possible=nul_possible)
    if not _activity_type(activity_type):
        raise RecordError(f"type {activity_type[:60]!r} is not shaped <system>.<object>.<action> in lowercase")
    occurred_at = parse_occurred_at(required[3], now=now)

    actor = required[4]
    if actor.__class__ is not dict and not isinstance(actor, dict):
        raise RecordError(f"actor must be an object with email, username or uid, not {_json_type(actor)}")
    email = _actor_key(actor, "email", nul_possible)
    username = _actor_key(actor, "username", nul_possible)
    uid = _actor_key(actor, "uid", nul_possible)
    if email is not None and not is_email(email):
        if username is None and uid is None:
            raise RecordError(f"actor.email {email[:60]!r} is not an e-mail address and the actor has no username or uid")
        email = None
    if email is None and username is None and uid is None:
        raise RecordError("actor has nothing to identify it: give an email, username or uid")
    name = actor.get("name") or ""
    if name.__class__ is not str:
        if not isinstance(name, str):
            raise RecordError(f"actor.name must be a string, not {_json_type(name)}")
        name = str(name)
    name = name.strip()
    if nul_possible:
        name = name.replace("\x00", "")
    name = name[:NAME_MAX]

    title = _text(record, "title", nul_possible=nul_possible)[:TITLE_MAX]
    data = get("data")
    try:
        data_json = orjson.dumps({} if data is None else data).decode()
    except TypeError as error:
        raise RecordError(f"data cannot be stored as JSON ({error})") from None
    if nul_possible and "\\u0000" in data_json:
        raise RecordError("data contains a NUL character, which cannot be stored")
    # A connector that knows an account is a bot (GitHub's `type: "Bot"`) says so with `actor.bot`.
    is_bot = actor.get("bot") is True or looks_like_bot(username, email, name)
    # E-mails and user names are compared case-insensitively, as GitHub, Bugzilla and Kitsune do.
    if email:
        email = email.casefold()
    if username:
        username = username.casefold()

    return ActivityRecord(
        source=source,
        external_id=external_id,
        type=activity_type,
        occurred_at=occurred_at,
        email=email,
        username=username,
        uid=uid,
        name=name,
        container=_text(record, "container", nul_possible=nul_possible),
        url=_text(record, "url", nul_possible=nul_possible),
        title=title,
        data_json=data_json,
        is_bot=is_bot,
    )


def read_lines(stream: BinaryIO, *, limit: int) -> Iterator[tuple[int, bytes | OversizedRecord]]:
    """Yield (line number, line) for every non-blank line; a line longer than `limit` is yielded
    as a short note instead, without ever holding the whole line in memory."""
    number = 0
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit and not line.endswith(b"\n"):
            size = len(line)
            while True:  # skip the rest of the oversized line
                more = stream.readline(1 << 20)
                size += len(more)
                if not more or more.endswith(b"\n"):
                    break
            yield number, OversizedRecord(size)
            continue
        if line.strip():
            yield number, line
