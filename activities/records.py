"""Reading one activity record of the common schema (JSON Lines files and the push API).

Every check raises `RecordError` with a reason a person understands; the caller adds the line
number or array index. The shape is the public contract documented in docs/contracts.md.
"""

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any

import msgspec
import orjson
from django.conf import settings

from activities.validators import is_activity_type
from baloo_site.emails import email_lowercase, email_normalise, is_email
from baloo_site.lines import OversizedRecord

REQUIRED_FIELDS = ("source", "external_id", "type", "occurred_at", "actor")
MAX_LENGTHS = {"external_id": 255, "type": 100, "container": 255, "url": 1000}
TITLE_MAX = 500
NAME_MAX = 200
KEY_MAX = 320
# A little slack for clocks that run fast; anything later is a mistake in the record.
FUTURE_TOLERANCE = timedelta(days=1)
# No system Baloo reads has activity before the Unix epoch: an earlier moment is a mistake (a
# year 0001 placeholder, a zeroed field), and near year 1 it would not even read back in Python.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
# A plainly written moment dated this day or later is after EARLIEST whatever its UTC offset
# (offsets stay within a day): text comparison is much cheaper.
EARLIEST_PLAIN_DATE = (EARLIEST + timedelta(days=1)).date().isoformat()


class RecordError(ValueError):
    """A record that cannot be accepted, with the reason."""


class ActivityRecord(msgspec.Struct, gc=False):
    """A valid activity record, normalised: identity keys trimmed and case-folded.

    `occurred_at` is ISO 8601 text with a UTC offset that PostgreSQL reads as the same moment: the
    record's own text when it is plainly written, otherwise the moment in UTC (`moment` parses it).
    """

    source: str
    external_id: str
    type: str
    occurred_at: str
    email: str | None
    username: str | None
    uid: str | None
    name: str
    container: str
    url: str
    title: str
    data_json: str
    is_bot: bool

    @property
    def moment(self) -> datetime:
        return datetime.fromisoformat(self.occurred_at)


def looks_like_bot(username: str | None, email: str | None, name: str) -> bool:
    """GitHub names its apps `something[bot]`, in logins, names and noreply addresses alike."""
    return bool((username and username.endswith("[bot]")) or (email and "[bot]@" in email) or name.endswith("[bot]"))


# ---------------------------------------------------------------------------------------------
# A record with the right JSON types, before its values are checked. Lines of a file are decoded
# straight into it by msgspec, which checks the types in C on the way; when that fails (or the
# values do not pass), the line is read again field by field, to say exactly what is wrong.

# Integers orjson reads as integers (a wider one becomes a float there, and is refused as a uid).
_Uid = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


def _at_most(limit: int) -> Any:
    """A string within a length limit: checked by msgspec as it decodes a line (a value that fails,
    perhaps only for spaces around it, is read again carefully). Not checked when built in Python."""
    return Annotated[str, msgspec.Meta(max_length=limit)]


class _Actor(msgspec.Struct, gc=False):
    email: _at_most(KEY_MAX) | None = None
    username: _at_most(KEY_MAX) | None = None
    uid: _at_most(KEY_MAX) | _Uid | None = None
    name: str = ""
    bot: Any = None  # only `true` means anything


class _Record(msgspec.Struct):
    source: str
    external_id: _at_most(MAX_LENGTHS["external_id"])
    type: _at_most(MAX_LENGTHS["type"])
    occurred_at: str
    actor: _Actor
    container: _at_most(MAX_LENGTHS["container"]) = ""
    url: _at_most(MAX_LENGTHS["url"]) = ""
    title: str = ""
    data: Any = None


_RECORD_DECODER = msgspec.json.Decoder(_Record)


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


def _string(record: dict, field: str, prefix: str = "") -> str | None:
    value = record.get(field)
    if value is None or value.__class__ is str:
        return value
    if not isinstance(value, str):
        raise RecordError(f"{prefix}{field} must be a string, not {_json_type(value)}")
    return str(value)


def _typed(record: Any) -> _Record:
    """Check the JSON types of a decoded record field by field, naming the first one that is wrong."""
    if not isinstance(record, dict):
        raise RecordError(f"a record must be a JSON object, not {_json_type(record)}")
    get = record.get
    missing = [field for field in REQUIRED_FIELDS if get(field) in (None, "")]
    if missing:
        raise RecordError("missing required field" + ("s" if len(missing) > 1 else "") + ": " + ", ".join(missing))
    source, external_id, activity_type = (
        _string(record, "source"),
        _string(record, "external_id"),
        _string(record, "type"),
    )
    occurred_at = record["occurred_at"]
    if not isinstance(occurred_at, str):
        raise RecordError(f"occurred_at must be an ISO 8601 string, not {_json_type(occurred_at)}")
    actor = record["actor"]
    if not isinstance(actor, dict):
        raise RecordError(f"actor must be an object with email, username or uid, not {_json_type(actor)}")
    uid = actor.get("uid")
    if not (uid.__class__ is int or (isinstance(uid, int) and not isinstance(uid, bool))):
        uid = _string(actor, "uid", "actor.")
    name = actor.get("name") or ""
    if not isinstance(name, str):
        raise RecordError(f"actor.name must be a string, not {_json_type(name)}")
    return _Record(
        source=source,
        external_id=external_id,
        type=activity_type,
        occurred_at=str(occurred_at),
        actor=_Actor(
            email=_string(actor, "email", "actor."),
            username=_string(actor, "username", "actor."),
            uid=uid,
            name=str(name),
            bot=actor.get("bot"),
        ),
        container=_string(record, "container") or "",
        url=_string(record, "url") or "",
        title=_string(record, "title") or "",
        data=get("data"),
    )


# ---------------------------------------------------------------------------------------------
# The values: what every record must hold, whichever way it was read.


def _text(value: str, field: str, *, nul_possible: bool, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise RecordError(f"{field} is empty")
    if nul_possible and "\x00" in value:
        raise RecordError(f"{field} contains a NUL character")
    limit = MAX_LENGTHS.get(field)
    if limit and len(value) > limit:
        raise RecordError(f"{field} is {len(value)} characters long; the limit is {limit}")
    return value


def _actor_key(value: str | int | None, field: str, *, nul_possible: bool) -> str | None:
    if value is None:
        return None
    value = str(value).strip() if isinstance(value, int) else value.strip()
    if field == "email" and not value.isascii():
        # Normalised before it is measured: NFKC can lengthen it. Nothing left is no e-mail at all.
        value = email_normalise(value)
    if nul_possible and "\x00" in value:
        raise RecordError(f"actor.{field} contains a NUL character")
    # Stored in lower case (e-mails) or case-folded (user names), which can lengthen a non-ASCII
    # value (`İ` becomes two characters, a user name's `ß` is `ss`). Uids are stored as they are.
    if field == "uid" or value.isascii():
        size = len(value)
    else:
        size = len(email_lowercase(value) if field == "email" else value.casefold())
    if size > KEY_MAX:
        raise RecordError(f"actor.{field} is {size} characters long; the limit is {KEY_MAX}")
    return value or None


@lru_cache(maxsize=16)
def _time_limits(now: datetime) -> tuple[datetime, str]:
    """The latest moment a record may name, and a date text before which no moment is that late,
    whatever its UTC offset (offsets stay within a day): text comparison is much cheaper."""
    return now + FUTURE_TOLERANCE, (now - timedelta(days=1)).date().isoformat()


def _plainly_written(text: str) -> bool:
    """YYYY-MM-DDTHH:MM:SS, at most six fractional digits, then Z or ±HH:MM below 15 hours. For a
    text that `datetime.fromisoformat` accepted, PostgreSQL then reads the same moment from the
    text itself (it refuses offsets of 16 hours or more, which Python reads)."""
    size = len(text)
    if size < 20:
        return False
    if text[-1] == "Z":
        fraction = size - 20
    elif text[-3] == ":" and text[-6] in "+-" and (text[-5] == "0" or text[-5:-3] < "15"):
        fraction = size - 25
    else:
        return False
    return (
        (fraction == 0 or (2 <= fraction <= 7 and text[19] == "."))
        and text[4] == "-"
        and text[7] == "-"
        and text[10] == "T"
        and text[13] == ":"
        and text[16] == ":"
    )


def parse_occurred_at(value: str, *, now: datetime) -> str:
    """Check an occurred_at text (ISO 8601 with a UTC offset, from 1970 on, not in the future) and
    return it as PostgreSQL should read it: the text itself when plainly written, otherwise the
    moment in UTC."""
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(f"occurred_at {value[:40]!r} is not an ISO 8601 date and time") from None
    if moment.tzinfo is None:  # fromisoformat gives a fixed offset or none
        raise RecordError(f"occurred_at {value[:40]!r} has no UTC offset; add one such as +02:00 or Z")
    # Compared before any conversion: moving a moment near year 1 or 9999 to UTC can overflow.
    if moment < EARLIEST:
        raise RecordError(f"occurred_at {value[:40]!r} is before 1970-01-01T00:00:00Z")
    latest, not_recent = _time_limits(now)
    plain = _plainly_written(text)
    if not (plain and text < not_recent) and moment > latest:
        raise RecordError(f"occurred_at {value[:40]!r} is in the future")
    return text if plain else moment.astimezone(UTC).isoformat()


def _activity_type(value: str) -> bool:
    """Whether a type is shaped <system>.<object>.<action>; a data set has few types, so remembered."""
    known = _ACTIVITY_TYPES.get(value)
    if known is None:
        known = is_activity_type(value)
        if len(_ACTIVITY_TYPES) < 10_000:
            _ACTIVITY_TYPES[value] = known
    return known


_ACTIVITY_TYPES: dict[str, bool] = {}


def _activity_record(record: _Record, *, now: datetime, nul_possible: bool) -> ActivityRecord:
    """Check the values of a record whose JSON types are right, and normalise them."""
    source = _text(record.source, "source", required=True, nul_possible=nul_possible)
    external_id = _text(record.external_id, "external_id", required=True, nul_possible=nul_possible)
    activity_type = _text(record.type, "type", required=True, nul_possible=nul_possible)
    if not _activity_type(activity_type):
        raise RecordError(f"type {activity_type[:60]!r} is not shaped <system>.<object>.<action> in lowercase")
    occurred_at = parse_occurred_at(record.occurred_at, now=now)

    actor = record.actor
    email = _actor_key(actor.email, "email", nul_possible=nul_possible)
    username = _actor_key(actor.username, "username", nul_possible=nul_possible)
    uid = _actor_key(actor.uid, "uid", nul_possible=nul_possible)
    if email is not None and not is_email(email):
        if username is None and uid is None:
            raise RecordError(
                f"actor.email {email[:60]!r} is not an e-mail address and the actor has no username or uid"
            )
        email = None
    if email is None and username is None and uid is None:
        raise RecordError("actor has nothing to identify it: give an email, username or uid")
    name = actor.name.strip()
    if nul_possible:
        name = name.replace("\x00", "")
    name = name[:NAME_MAX]

    data = record.data
    try:
        data_json = orjson.dumps({} if data is None else data).decode()
    except TypeError as error:
        raise RecordError(f"data cannot be stored as JSON ({error})") from None
    if nul_possible and "\\u0000" in data_json:
        raise RecordError("data contains a NUL character, which cannot be stored")
    # A connector that knows an account is a bot (GitHub's `type: "Bot"`) says so with `actor.bot`.
    is_bot = actor.bot is True or looks_like_bot(username, email, name)
    # E-mails and user names are compared case-insensitively, as GitHub, Bugzilla and Kitsune do
    # (an e-mail letter by letter: `email_lowercase`).
    return ActivityRecord(
        source=source,
        external_id=external_id,
        type=activity_type,
        occurred_at=occurred_at,
        email=email_lowercase(email) if email else email,
        username=username.casefold() if username else username,
        uid=uid,
        name=name,
        container=_text(record.container, "container", nul_possible=nul_possible),
        url=_text(record.url, "url", nul_possible=nul_possible),
        title=_text(record.title, "title", nul_possible=nul_possible)[:TITLE_MAX],
        data_json=data_json,
        is_bot=is_bot,
    )


def _activity_record_quickly(record: _Record, *, now: datetime) -> ActivityRecord | None:
    """`_activity_record` in fewer steps, for a record msgspec decoded from a line without a NUL
    (its lengths already checked): None as soon as anything is unusual — an empty value, a type
    not seen before, a moment not plainly written or too early or recent to tell by its date, an actor key
    that is empty or not an e-mail, an e-mail to normalise — and the full checks then decide, and say why."""
    source, external_id, activity_type = record.source.strip(), record.external_id.strip(), record.type.strip()
    if not (source and external_id and _ACTIVITY_TYPES.get(activity_type)):
        return None
    occurred_at = record.occurred_at
    if not (EARLIEST_PLAIN_DATE <= occurred_at < _time_limits(now)[1] and _plainly_written(occurred_at)):
        return None
    try:
        datetime.fromisoformat(occurred_at)
    except ValueError:
        return None

    actor = record.actor
    email, username, uid = actor.email, actor.username, actor.uid
    if email is not None and not ((email := email.strip()) and email.isascii() and is_email(email)):
        return None
    if username is not None and not (username := username.strip()):
        return None
    if uid is not None and not (uid := uid.strip() if uid.__class__ is str else str(uid)):
        return None
    if email is None and username is None and uid is None:
        return None
    name = actor.name.strip()[:NAME_MAX]
    data = record.data
    try:
        data_json = orjson.dumps({} if data is None else data).decode()
    except TypeError:
        return None
    is_bot = actor.bot is True or looks_like_bot(username, email, name)  # as written, before lower-casing
    if email is not None:
        email = email.lower()  # plain ASCII here: `email_lowercase` in one step
    if username is not None and len(username := username.casefold()) > KEY_MAX:
        return None
    return ActivityRecord(
        source=source,
        external_id=external_id,
        type=activity_type,
        occurred_at=occurred_at,
        email=email,
        username=username,
        uid=uid,
        name=name,
        container=record.container.strip(),
        url=record.url.strip(),
        title=record.title.strip()[:TITLE_MAX],
        data_json=data_json,
        is_bot=is_bot,
    )


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
    if not isinstance(raw, (bytes, str)):
        return _activity_record(_typed(raw), now=now, nul_possible=True)
    if len(raw) > limit:
        raise RecordError(f"the record is {len(raw):,} bytes; the limit is {limit:,} bytes")
    # JSON text holds a NUL only as the escape \u0000: without one, no field can contain it.
    nul_possible = (b"\\u0000" if isinstance(raw, bytes) else "\\u0000") in raw
    if not nul_possible:
        try:
            decoded = _RECORD_DECODER.decode(raw)
            return _activity_record_quickly(decoded, now=now) or _activity_record(decoded, now=now, nul_possible=False)
        except (msgspec.MsgspecError, ValueError, RecursionError):
            # RecordError included: read it again below, to say exactly what is wrong (a payload
            # nested deeper than msgspec's stack goes is refused by orjson's depth limit there).
            pass
    return _read_carefully(raw, now=now, nul_possible=nul_possible)


def _read_carefully(raw: bytes | str, *, now: datetime, nul_possible: bool) -> ActivityRecord:
    """Read a line into a dict and check it field by field: the reading that names what is wrong."""
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise RecordError(f"not valid JSON ({error})") from None
    return _activity_record(_typed(record), now=now, nul_possible=nul_possible)
