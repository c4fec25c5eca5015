"""Writes about a source's connection: each change of its base URL, token variables or git repository, audited.

Who may change them is decided where they are changed (the admin makes them read-only for staff
who are not administrators, and refuses them a git source's `url`; load_config is an operator's
command). This module records that a change happened, for whoever asks later where a request or a
token went.
"""

import getpass
from collections.abc import Mapping

from django.contrib.auth.models import AbstractBaseUser

from .models import Source, SourceConnectionChange

# Where a token may go, which variables it is read from, and whether pushed records may join accounts.
CONNECTION_FIELDS = ("base_url", "token_env", "links_accounts")
# The kind too, once a source exists: with an empty base URL it picks the connector's default host,
# so changing it sends the source's token to another system's host.
AUDITED_FIELDS = ("kind", *CONNECTION_FIELDS)
# A git source's repository, its `url` option: where the worker's git connects, the way `base_url`
# is for the others (an https URL, any port of a host the operator allowed, or a local path inside
# BALOO_GIT_ALLOWED_PATHS). No token goes there, but it is an administrator's to set all the same.
GIT_URL = "git_url"
# An audit value is kept to this many characters (a git URL may have up to 1,000).
VALUE_LENGTH = 500


def git_url(*, kind: str, options: object) -> str:
    """Where a source's git fetches from: a `git` source's `url` option as given, else nothing."""
    url = options.get("url") if kind == "git" and isinstance(options, dict) else None
    return "" if url is None else str(url)


def source_connection_before(*, slug: str) -> dict[str, str] | None:
    """A source's connection as stored now (None for a source not created yet), to audit a change against."""
    stored = Source.objects.filter(slug=slug).values(*AUDITED_FIELDS, "options").first()
    if stored is None:
        return None
    options = stored.pop("options")
    return {**stored, GIT_URL: git_url(kind=stored["kind"], options=options)}


def source_connection_audit(
    *, source: Source, before: Mapping[str, str] | None, by: AbstractBaseUser | None, via: str
) -> list[SourceConnectionChange]:
    """Record each connection field (the kind, a git source's repository) of `source` that differs from
    `before` (`source_connection_before`; a new source: from nothing)."""
    before = before or {}
    now = {field: getattr(source, field) for field in AUDITED_FIELDS} | {GIT_URL: git_url(kind=source.kind, options=source.options)}
    changes = [
        SourceConnectionChange(
            source=source,
            source_slug=source.slug,
            field=field,
            old_value=_shown(before.get(field)),
            new_value=_shown(value),
            by=by if by is not None and by.pk else None,
            by_name=by.get_username() if by is not None else _system_user(),
            via=via,
        )
        for field, value in now.items()
        # A new source's kind is where it starts, not a change of where its token goes.
        if (field != "kind" or before)
        and _text(before.get(field)) != _text(value)
    ]
    return SourceConnectionChange.objects.bulk_create(changes)


def _text(value: str | bool | None) -> str:
    """A connection field as text: text as it is, a flag as "on" (off like nothing: empty)."""
    if isinstance(value, bool):
        return "on" if value else ""
    return value or ""


def _shown(value: str | bool | None) -> str:
    """A connection field as the audit writes it: as text, cut to what the audit holds."""
    text = _text(value)
    return text if len(text) <= VALUE_LENGTH else text[: VALUE_LENGTH - 1] + "…"


def _system_user() -> str:
    # load_config runs as an operator's system account: the best "who" there is.
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""
