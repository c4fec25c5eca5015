"""Placeholder accounts: accounts that are no human, and the one rule of who never counts.

A system stands a shared or stand-in account in for people: Kitsune's `AnonymousUser` (anonymous
questions and answers) and `SumoBot` (the content of deleted users), Bugzilla's `nobody@mozilla.org`
(a bug nobody took), GitHub's `ghost` (deleted users). Staff keep the list in the admin
(`PlaceholderAccount`, one default list per system kind). A placeholder account:

- keeps its activities, which never count anywhere (like a bot's);
- never joins or merges with anyone: a record naming it is its activity alone (the record's other
  keys are left out, so a real address beside it is never pulled into it), no claim, directory record
  or staff merge joins it to a person, and each placeholder identity stays a person of its own;
- takes effect on data already stored: a change of the list asks for a recompute, and counting
  resolves it then.

`persons_not_counted()` is the one definition of the persons who never count (bots and placeholder
accounts); every reader excludes them through it (or `counted`, its form for a query's join path).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL

from activities.keys import EMAIL, UID, Key, email_key
from activities.models import Activity, Source

from .models import Identity, MergeSuggestion, Person, PlaceholderAccount
from .signals import people_changed


class PlaceholderMergeError(ValueError):
    """A placeholder account merges with nobody."""

    def __init__(self) -> None:
        super().__init__("A placeholder account is no human: it never merges with anyone.")


def placeholder_value(kind: str, value: str) -> str:
    """A value written as its identity key writes it (`activities.keys`): an e-mail normalised and in
    lower case, a user name trimmed and case-folded, a uid trimmed."""
    if kind == EMAIL:
        return email_key(value)[2]
    if kind == UID:
        return value.strip()
    return value.strip().casefold()


def _namespaces_of_kinds() -> dict[str, set[str]]:
    """Source kind → the account namespaces of its sources ("" → every source's)."""
    namespaces: dict[str, set[str]] = {"": set()}
    for source in Source.objects.only("slug", "kind", "account_namespace"):
        namespaces.setdefault(source.kind, set()).add(source.accounts_namespace)
        namespaces[""].add(source.accounts_namespace)
    return namespaces


def _keys_of_accounts() -> dict[int, set[Key]]:
    """Each placeholder account's identity keys now: an e-mail in its one namespace, a user name or
    uid in the namespace of each source of its system kind (of every source for "any")."""
    rows = list(PlaceholderAccount.objects.values_list("pk", "source_kind", "kind", "value"))
    if not rows:
        return {}
    namespaces = _namespaces_of_kinds()
    return {
        pk: {(kind, namespace, value) for namespace in ([""] if kind == EMAIL else namespaces.get(source_kind, ()))}
        for pk, source_kind, kind, value in rows
    }


def placeholder_keys() -> frozenset[Key]:
    """The identity keys of every placeholder account now."""
    return frozenset(key for keys in _keys_of_accounts().values() for key in keys)


def placeholder_emails() -> set[str]:
    """The e-mails of the placeholder accounts, as their keys write them (e-mails are one namespace)."""
    return {value for kind, _namespace, value in placeholder_keys() if kind == EMAIL}


def _placeholder_identities_sql(column: str) -> RawSQL:
    """`column` ("id" or "person_id") of the placeholder identities, in one SQL statement run inside
    the query that uses it (no round trip of its own). The rule of `placeholder_keys`, joined the
    way the unique index on (kind, namespace, value) answers: each listed account meets the sources
    of its system kind, which give the namespace, then its identity by the whole key."""
    quote = connection.ops.quote_name
    identity, placeholder, source = (
        quote(model._meta.db_table) for model in (Identity, PlaceholderAccount, Source)
    )
    sql = (
        f"SELECT i.{column} FROM {placeholder} p "
        f"JOIN {source} s ON (s.kind = p.source_kind OR p.source_kind = %s) "
        f"JOIN {identity} i ON i.kind = p.kind AND i.namespace = COALESCE(NULLIF(s.account_namespace, %s), s.slug) "
        "AND i.value = p.value WHERE p.kind <> %s "
        f"UNION SELECT i.{column} FROM {identity} i WHERE i.kind = %s AND i.namespace = %s "
        f"AND i.value IN (SELECT p.value FROM {placeholder} p WHERE p.kind = %s)"
    )
    return RawSQL(sql, ["", "", EMAIL, EMAIL, "", EMAIL])


def placeholder_identities() -> QuerySet[Identity]:
    """The identities that are placeholder accounts (each found by its unique key, never a scan)."""
    return Identity.objects.filter(pk__in=_placeholder_identities_sql("id"))


def placeholder_persons() -> QuerySet[Person]:
    """The persons holding a placeholder account's identity."""
    return Person.objects.filter(pk__in=_placeholder_identities_sql("person_id"))


def persons_not_counted() -> QuerySet[Person]:
    """The persons who never count anywhere: bots, and every person holding a placeholder account.

    The engine, the staff API, the contributor's record and the dashboard leave these out of every
    count and list of contributors; their activities stay stored.
    """
    return Person.objects.filter(Q(is_bot=True) | Q(pk__in=_placeholder_identities_sql("person_id")))


def counted(path: str) -> Q:
    """`persons_not_counted()` as a condition on the person at `path` of a query's rows, evaluated by
    the database inside that query: e.g. `Activity.objects.filter(counted("identity__person"))`,
    `Person.objects.filter(counted("pk"))`."""
    bot = "is_bot" if path == "pk" else f"{path}__is_bot"
    return Q(**{bot: False}) & ~Q(**{f"{path}__in": _placeholder_identities_sql("person_id")})


def is_placeholder(key: Key) -> bool:
    """Whether this identity key is a placeholder account's."""
    return key in placeholder_keys()


def placeholder_accounts_with_counts() -> QuerySet[PlaceholderAccount]:
    """Placeholder accounts with `activity_count`: how many activities their identities hold now.

    One grouped count over the activities of the placeholder identities, each found by its unique
    key (and their activities by the identity index), annotated as constants: sortable, and three
    queries however long the list or large the tables.
    """
    keys_of = _keys_of_accounts()
    activity_count: Any = Value(0)
    if keys_of:
        per_key = dict(
            ((kind, namespace, value), count)
            for kind, namespace, value, count in Activity.objects.filter(identity__in=placeholder_identities())
            .order_by()
            .values_list("identity__kind", "identity__namespace", "identity__value")
            .annotate(count=Count("id"))
        )
        whens = [When(pk=pk, then=Value(sum(per_key.get(key, 0) for key in keys))) for pk, keys in keys_of.items()]
        activity_count = Case(*whens, default=Value(0), output_field=IntegerField())
    return PlaceholderAccount.objects.annotate(activity_count=activity_count)


# --------------------------------------------------------------------------- writes


def _recount() -> None:
    people_changed.send(sender=PlaceholderAccount)


def placeholder_suggestions_close() -> int:
    """Delete the merge suggestions still to review that involve a placeholder account (made before it
    was listed): it merges with nobody, so there is nothing to decide. Decided ones stay, as history.
    Returns how many went."""
    persons = _placeholder_identities_sql("person_id")
    deleted, _ = (
        MergeSuggestion.objects.filter(status=MergeSuggestion.Status.OPEN)
        .filter(Q(identity_a__person_id__in=persons) | Q(identity_b__person_id__in=persons))
        .delete()
    )
    return deleted


def placeholder_account_save(*, account: PlaceholderAccount) -> PlaceholderAccount:
    """Add or change a placeholder account; the numbers follow at the next (requested) recompute, and
    the suggestions to review that involve it go (`placeholder_suggestions_close`)."""
    account.value = placeholder_value(account.kind, account.value)
    account.source_kind = account.source_kind.strip().lower()
    with transaction.atomic():
        account.save()
        placeholder_suggestions_close()
        _recount()
    return account


def placeholder_accounts_delete(*, accounts: Iterable[PlaceholderAccount]) -> int:
    """Remove placeholder accounts from the list: their activities count again from the next recompute."""
    ids = [account.pk for account in accounts]
    with transaction.atomic():
        deleted, _ = PlaceholderAccount.objects.filter(pk__in=ids).delete()
        if deleted:
            _recount()
    return deleted

