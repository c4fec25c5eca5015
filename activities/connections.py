"""Writes about a source's connection: each change of its base URL or token variables, audited.

Who may change them is decided where they are changed (the admin makes them read-only for staff
who are not administrators; load_config is an operator's command). This module records that a
change happened, for whoever asks later where a request or a token went.
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


def source_connection_before(*, slug: str) -> dict[str, str] | None:
    """A source's connection fields as stored now (None for a source not created yet), to audit a change against."""
    return Source.objects.filter(slug=slug).values(*AUDITED_FIELDS).first()


def source_connection_audit(
    *, source: Source, before: Mapping[str, str] | None, by: AbstractBaseUser | None, via: str
) -> list[SourceConnectionChange]:
    """Record each connection field (and the kind) of `source` that differs from `before` (a new source: from nothing)."""
    before = before or {}
    changes = [
        SourceConnectionChange(
            source=source,
            source_slug=source.slug,
            field=field,
            old_value=_shown(before.get(field)),
            new_value=_shown(getattr(source, field)),
            by=by if by is not None and by.pk else None,
            by_name=by.get_username() if by is not None else _system_user(),
            via=via,
        )
        for field in AUDITED_FIELDS
        # A new source's kind is where it starts, not a change of where its token goes.
        if (field != "kind" or before)
        and _shown(before.get(field)) != _shown(getattr(source, field))
    ]
    return SourceConnectionChange.objects.bulk_create(changes)


def _shown(value: str | bool | None) -> str:
    """A connection field as the audit writes it: text as it is, a flag as "on" (off like nothing: empty)."""
    if isinstance(value, bool):
        return "on" if value else ""
    return value or ""


def _system_user() -> str:
    # load_config runs as an operator's system account: the best "who" there is.
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""
