"""Writes about activities: the one ingestion path shared by file imports, syncs and the push API."""

import threading
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC
from itertools import chain, islice
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from baloo_site.bulk import copy_from_text, copy_rows, copy_text, cycle_collector_paused, is_postgresql, text_array

from .actors import Actor, ActorResolver, actor_resolver
from .keys import EMAIL, UID, USERNAME, github_noreply_keys
from .models import Activity, RejectedItem, Source
from .records import ActivityRecord, RecordError, record_parse
from .signals import activities_stored

if TYPE_CHECKING:
    from .connectors.base import Rejected
    from .models import SyncRun

BATCH_SIZE = 25_000
ACTIVITY_COLUMNS = (
    "source_id",
    "external_id",
    "type",
    "occurred_at",
    "identity_id",
    "container",
    "url",
    "title",
    "data",
    "ingested_at",
)
IMPORT_KIND = "import"


@dataclass(slots=True)
class Rejection:
    """A record that was not stored: its line number (files) or array index (API), and why."""

    position: int
    reason: str


@dataclass
class IngestResult:
    created: int = 0
    duplicate: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    sources_created: list[str] = field(default_factory=list)

    def add(self, other: "IngestResult") -> None:
        self.created += other.created
        self.duplicate += other.duplicate
        self.rejected.extend(other.rejected)
        self.sources_created.extend(other.sources_created)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "duplicate": self.duplicate,
            "rejected": [{"position": r.position, "reason": r.reason} for r in self.rejected],
        }


def activities_ingest(
    *,
    records: Iterable[tuple[int, Any]],
    create_sources: bool = False,
    batch_size: int = BATCH_SIZE,
    pipeline: bool | None = None,
    links_accounts: bool = True,
) -> IngestResult:
    """Store activity records of the common schema, each (source, external_id) at most once.

    `records` are (position, record) pairs; a record is a dict, or JSON text of one. Bad records are
    rejected with their position and a reason while good ones are stored. Each batch commits on its
    own, so a failure later never loses what was already accepted. Unknown sources are rejected
    unless `create_sources` is set (they are then created as import-only sources).

    With `pipeline` (the default on PostgreSQL outside a transaction) one batch is stored by a
    second thread, on its own connection, while the next one is read and checked: the database and
    Python then work at the same time.

    `links_accounts` says whether the records' authors may join accounts: true for what Baloo reads
    itself (syncs, signed webhooks, the operator's files); the push API passes its source's
    `links_accounts`, so keys a token holder typed never join a person that exists elsewhere
    (see `identities_resolve`).
    """
    with cycle_collector_paused():
        result = _ingest(
            records, create_sources=create_sources, batch_size=batch_size, pipeline=pipeline, links_accounts=links_accounts
        )
    if result.created:
        # Every way in ends here, so this is the one place new activity asks to be counted.
        activities_stored.send(sender=Activity, created=result.created)
    return result


def _ingest(
    records: Iterable[tuple[int, Any]],
    *,
    create_sources: bool,
    batch_size: int,
    pipeline: bool | None,
    links_accounts: bool,
) -> IngestResult:
    result = IngestResult()
    iterator = iter(records)
    sources = {source.slug: source for source in Source.objects.all()}
    resolved = actor_resolver()
    repeats = _Repeats()
    batches = iter(lambda: list(islice(iterator, batch_size)), [])
    first, second = next(batches, None), next(batches, None)
    batches = chain(filter(None, (first, second)), batches)
    if pipeline is None:
        pipeline = is_postgresql() and not connection.in_atomic_block
    if not pipeline or second is None:
        # One batch (a push, a sync page) or no second connection to use: everything in line.
        for batch in batches:
            prepared = _prepare_batch(
                batch, sources=sources, create_sources=create_sources, links_accounts=links_accounts
            )
            result.add(_store_batch(prepared, sources=sources, resolved=resolved, repeats=repeats))
        return result

    return _ingest_in_stages(
        batches,
        sources=sources,
        create_sources=create_sources,
        resolved=resolved,
        repeats=repeats,
        links_accounts=links_accounts,
    )


def _ingest_in_stages(
    batches: Iterable[list[tuple[int, Any]]],
    *,
    sources: dict[str, Source],
    create_sources: bool,
    resolved: ActorResolver,
    repeats: "_Repeats",
    links_accounts: bool,
) -> IngestResult:
    """A large import, in three stages that overlap: this thread reads and checks one batch while a
    second thread resolves the identities of the batch before (committing them) and writes its
    activity rows as COPY text, and a third copies the activities of the one before that, each on
    its own connection. The database then works on two batches while Python checks a third, and the
    longest stage, PostgreSQL filling the activity table, never waits for Python."""
    result = IngestResult()
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="baloo-resolve") as resolver,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="baloo-write") as writer,
    ):
        in_flight: deque[tuple[Future, Future]] = deque()
        failed = threading.Event()  # after a failure, batches already queued are not written
        try:
            for batch in batches:
                prepared = _prepare_batch(
                    batch, sources=sources, create_sources=create_sources, links_accounts=links_accounts
                )
                known = dict(sources)  # as they are now: this thread may add sources for later batches
                resolving = resolver.submit(
                    _in_thread, failed, _resolve_and_write_rows, prepared, sources=known, resolved=resolved
                )
                writing = writer.submit(
                    _in_thread, failed, _write_resolved, prepared, resolving, repeats=repeats, resolved=resolved
                )
                in_flight.append((resolving, writing))
                while len(in_flight) > 2:
                    result.add(in_flight.popleft()[1].result())
            while in_flight:
                result.add(in_flight.popleft()[1].result())
        finally:
            for resolving, writing in in_flight:
                resolving.cancel()
                writing.cancel()
            resolver.submit(connections.close_all).result()
            writer.submit(connections.close_all).result()
    return result


@dataclass
class _PreparedBatch:
    valid: list[ActivityRecord]
    actors: list[tuple]  # each valid record's actor signature: what makes it the same actor
    result: IngestResult
    now: Any
    links_accounts: bool


def _prepare_batch(
    batch: list[tuple[int, Any]], *, sources: dict[str, Source], create_sources: bool, links_accounts: bool
) -> _PreparedBatch:
    """Check every record of a batch; unknown sources are created here when asked."""
    result = IngestResult()
    now = timezone.now()
    valid: list[ActivityRecord] = []
    actors: list[tuple] = []
    seen: set[tuple[str, str]] = set()
    max_bytes = settings.BALOO_MAX_RECORD_BYTES
    for position, raw in batch:
        try:
            record = record_parse(raw, now=now, max_bytes=max_bytes)
        except RecordError as error:
            result.rejected.append(Rejection(position, str(error)))
            continue
        if record.source not in sources:
            if not create_sources:
                result.rejected.append(
                    Rejection(
                        position,
                        f"unknown source {record.source!r}: configure it first, or import with --create-sources",
                    )
                )
                continue
            sources[record.source] = _source_for_import(record.source)
            result.sources_created.append(record.source)
        key = (record.source, record.external_id)
        if key in seen:
            result.duplicate += 1
            continue
        seen.add(key)
        valid.append(record)
        actors.append(actor_signature(record, links_accounts=links_accounts))
    return _PreparedBatch(valid, actors, result, now, links_accounts)


def _store_batch(
    prepared: _PreparedBatch, *, sources: dict[str, Source], resolved: ActorResolver, repeats: "_Repeats"
) -> IngestResult:
    """Resolve identities and insert the activities of one batch, in one transaction."""
    if prepared.valid:
        with transaction.atomic():
            identity_ids = _resolve_batch(prepared, sources=sources, resolved=resolved)
            rows = _rows(prepared, identity_ids, sources)
            created = _insert_activities(rows, repeats)
            _count_inserted(prepared, created)
            _addresses_stored(prepared, rows, created, resolved=resolved)
    return prepared.result


def _resolve_batch(prepared: _PreparedBatch, *, sources: dict[str, Source], resolved: ActorResolver) -> list[int]:
    """Resolve the batch's actors to identities (committed with the caller's transaction, or on
    their own): the identity of each valid record."""
    valid = prepared.valid
    if not valid:
        return []
    github_namespaces = _github_namespaces(sources)
    links_accounts = prepared.links_accounts
    with transaction.atomic():
        return resolved.resolve(
            prepared.actors,
            lambda position: _actor(
                valid[position], sources[valid[position].source], github_namespaces, links_accounts=links_accounts
            ),
        )


def _resolve_and_write_rows(
    prepared: _PreparedBatch, *, sources: dict[str, Source], resolved: ActorResolver
) -> tuple[list[tuple], str | None]:
    """Resolve a batch's identities (committing them), then write its activity rows and, on
    PostgreSQL, their COPY text in key order (see `_copied`)."""
    rows = _rows(prepared, _resolve_batch(prepared, sources=sources, resolved=resolved), sources)
    return rows, (copy_text(rows, ordered=True) if rows and is_postgresql() else None)


def _addresses_stored(prepared: _PreparedBatch, rows: list[tuple], created: int, *, resolved: ActorResolver) -> None:
    """Records naming an address on an e-mail domain the resolver watches are handed to it once
    stored (a staff domain widens the person's staff period, see `contributors.staff`); only here is
    the record's address known. `rows` are the valid records' activity rows, `created` how many of
    them this batch stored.

    Only a record this batch stored widens a period: one already there (a re-push, perhaps with
    another date or actor) changes nothing, or anyone holding a push token could re-date a
    person's staff period. When some rows were not stored, the batch's candidates are checked
    against the table: stored by this ingestion (its `ingested_at`), for the record's identity and
    on the record's day."""
    domains = resolved.watched_email_domains()
    if not domains:
        return
    candidates = [
        (int(row[0]), record.external_id, int(row[4]), record.email, record.moment)
        for record, row in zip(prepared.valid, rows, strict=True)
        if record.email and record.email.rsplit("@", 1)[-1] in domains
    ]
    if candidates and created < len(rows):
        stored = {
            (source_id, external_id): (identity_id, occurred_at)
            for source_id, external_id, identity_id, occurred_at in Activity.objects.filter(
                source_id__in={c[0] for c in candidates},
                external_id__in=[c[1] for c in candidates],
                ingested_at=prepared.now,
            ).values_list("source_id", "external_id", "identity_id", "occurred_at")
        }
        candidates = [
            c
            for c in candidates
            if (s := stored.get((c[0], c[1])))
            and s[0] == c[2]
            and s[1].astimezone(UTC).date() == c[4].astimezone(UTC).date()
        ]
    resolved.emails_stored(seen=[(identity_id, email, moment) for _s, _e, identity_id, email, moment in candidates])


def _count_inserted(prepared: _PreparedBatch, created: int) -> None:
    prepared.result.created += created
    prepared.result.duplicate += len(prepared.valid) - created


def _in_thread(failed: threading.Event, func, *args, **kwargs):
    if failed.is_set():
        raise RuntimeError("not stored: an earlier batch failed")
    try:
        return func(*args, **kwargs)
    except Exception:
        failed.set()
        connections.close_all()  # never leave a broken connection behind in a worker thread
        raise


def _write_resolved(
    prepared: _PreparedBatch, resolving: Future, repeats: "_Repeats", resolved: ActorResolver
) -> IngestResult:
    """Insert a batch's activities once its identities are resolved and its rows written (a
    failure there is raised)."""
    rows, text = resolving.result()
    if rows:
        with transaction.atomic():
            created = _insert_activities(rows, repeats, text=text)
            _count_inserted(prepared, created)
            _addresses_stored(prepared, rows, created, resolved=resolved)
    return prepared.result


def _source_for_import(slug: str) -> Source:
    source, _created = Source.objects.get_or_create(
        slug=slug, defaults={"kind": IMPORT_KIND, "name": slug, "schedule_minutes": 0}
    )
    return source


def _github_namespaces(sources: dict[str, Source]) -> set[str]:
    """Account namespaces of github.com sources, where GitHub noreply addresses point."""
    return {source.accounts_namespace for source in sources.values() if source.is_github_com}


def actor_signature(record: ActivityRecord, *, links_accounts: bool = True) -> tuple:
    """What makes two records' actors the same actor (the resolver knows actors by it): the source
    (its account namespace), the e-mail, user name, uid and bot flag the record gives, and whether
    its author may link accounts (the same keys resolve differently with and without)."""
    return (record.source, record.email, record.username, record.uid, record.is_bot, links_accounts)


def _actor(record: ActivityRecord, source: Source, github_namespaces: set[str], *, links_accounts: bool = True) -> Actor:
    namespace = source.accounts_namespace
    keys: list[tuple[str, str, str]] = []
    derived: list[tuple[tuple[str, str, str], tuple[str, str, str]]] = []
    # Most specific first: the activity points at the account in its own source when there is one.
    if record.uid:
        keys.append((UID, namespace, record.uid))
    if record.username:
        keys.append((USERNAME, namespace, record.username))
    if record.email:
        email = (EMAIL, "", record.email)
        keys.append(email)
        noreply = github_noreply_keys(record.email, namespaces=github_namespaces)
        if not links_accounts and any(key[0] == UID for key in noreply):
            # GitHub routes `12345+login@…` by the id; the login part is only what the typist wrote,
            # and pairing someone's id with someone else's login would join two accounts.
            noreply = [key for key in noreply if key[0] == UID]
        keys.extend(key for key in noreply if key not in keys)
        derived.extend((email, key) for key in noreply)
    return Actor(
        keys=tuple(keys),
        name=record.name,
        source_id=source.pk,
        is_bot=record.is_bot,
        links_accounts=links_accounts,
        derived=tuple(derived),
    )


def _rows(prepared: _PreparedBatch, identity_ids: list[int], sources: dict[str, Source]) -> list[tuple]:
    """The activity rows (ACTIVITY_COLUMNS) of a batch's valid records."""
    valid = prepared.valid
    if is_postgresql():
        # All text, as COPY sends it: ids written once per source, the batch's time once, and the
        # records' times as they give them (see ActivityRecord.occurred_at).
        source_ids = {slug: str(source.pk) for slug, source in sources.items()}
        ingested_at = prepared.now.isoformat()
        occurred = [record.occurred_at for record in valid]
        identities = map(str, identity_ids)
    else:
        adapt = connection.ops.adapt_datetimefield_value
        source_ids = {slug: source.pk for slug, source in sources.items()}
        ingested_at = adapt(prepared.now)
        occurred = [adapt(record.moment) for record in valid]
        identities = identity_ids
    return [
        (
            source_ids[record.source],
            record.external_id,
            record.type,
            occurred_at,
            identity_id,
            record.container,
            record.url,
            record.title,
            record.data_json,
            ingested_at,
        )
        for record, occurred_at, identity_id in zip(valid, occurred, identities, strict=True)
    ]


@dataclass
class _Repeats:
    """Whether this input repeats activities already stored (a re-import, an overlapping sync).

    New input goes straight into the table with COPY, which fails at once on an activity already
    there; once that happened, each batch is first checked against the table instead, until one
    turns out to be all new again.
    """

    likely: bool = False


def _insert_activities(rows: list[tuple], repeats: _Repeats | None = None, *, text: str | None = None) -> int:
    """Insert activity rows (ACTIVITY_COLUMNS), skipping those already stored; return how many were new.
    `text`, when given, is their COPY text in key order, written beforehand (PostgreSQL)."""
    table = Activity._meta.db_table
    columns = ", ".join(ACTIVITY_COLUMNS)
    repeats = repeats or _Repeats()
    if is_postgresql():
        if not repeats.likely:
            if _copied(rows, text):
                return len(rows)
            repeats.likely = True
        stored = _stored_positions(rows)
        repeats.likely = bool(stored)
        new_rows = [row for position, row in enumerate(rows) if position not in stored] if stored else rows
        if not new_rows:
            return 0
        if _copied(new_rows):
            return len(new_rows)
        # Another import stored some of them meanwhile: stage them and skip the conflicts.
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMPORARY TABLE IF NOT EXISTS baloo_activity_stage (source_id bigint, external_id text, "
                "type text, occurred_at timestamptz, identity_id bigint, container text, url text, title text, "
                "data text, ingested_at timestamptz) ON COMMIT DELETE ROWS"
            )
            copy_rows("baloo_activity_stage", ACTIVITY_COLUMNS, new_rows)
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM baloo_activity_stage "
                "ON CONFLICT (source_id, external_id) DO NOTHING"
            )
            created = cursor.rowcount
            cursor.execute("TRUNCATE baloo_activity_stage")
            return created
    placeholders = ", ".join(["%s"] * len(ACTIVITY_COLUMNS))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) ON CONFLICT (source_id, external_id) DO NOTHING",
            rows,
        )
        return cursor.rowcount


def _copied(rows: list[tuple], text: str | None = None) -> bool:
    """COPY activity rows straight into the table, in a savepoint; False (nothing written) when one of
    them is already stored. In the order of the unique key (source, external id), so its index is
    written in order; `text` is the rows' COPY text in that order when it was written beforehand."""
    if text is None:
        text = copy_text(rows, ordered=True)
    try:
        with transaction.atomic():
            copy_from_text(Activity._meta.db_table, ACTIVITY_COLUMNS, text)
        return True
    except IntegrityError:
        return False


def _stored_positions(rows: list[tuple]) -> set[int]:
    """The positions of the activity rows whose (source, external id) is already stored (PostgreSQL)."""
    with connection.cursor() as cursor:
        # One index probe per key, however large the table (OFFSET 0 keeps the planner from
        # turning the lookup into a scan of every activity).
        (source_ids, source_param), (external_ids, external_param) = (
            text_array([str(row[0]) for row in rows]),
            text_array([row[1] for row in rows]),
        )
        cursor.execute(
            f"SELECT k.position - 1 FROM unnest({source_ids}::bigint[], {external_ids}) "
            "WITH ORDINALITY AS k(source_id, external_id, position) "
            f"WHERE EXISTS (SELECT 1 FROM {Activity._meta.db_table} a "
            "WHERE a.source_id = k.source_id AND a.external_id = k.external_id OFFSET 0)",
            [source_param, external_param],
        )
        return {position for (position,) in cursor.fetchall()}


def rejected_items_record(
    *, source: Source, rejected: "Sequence[Rejected]", sync_run: "SyncRun | None" = None
) -> list["Rejected"]:
    """Keep the items a sync or a webhook of `source` rejected; return those met for the first time.

    Each item is counted as rejected once: an item kept by an earlier run, or met twice in
    `rejected`, is left out of the answer. Met again, its row says when (`checked_at`) and takes
    the reason given now (a spam flag reverted, then the question hidden: still one rejection). An
    item whose activity is already stored is no rejection at all (its author deleted their account
    after the activity was synced: the activity stays as it was stored), and a row a webhook or an
    older run left for it goes. Must run inside the transaction that stores the page.
    """
    first: dict[str, Rejected] = {}
    for item in rejected:
        first.setdefault(item.external_id, item)
    if not first:
        return []
    ids = list(first)
    stored = set(Activity.objects.filter(source=source, external_id__in=ids).values_list("external_id", flat=True))
    if stored:
        RejectedItem.objects.filter(source=source, external_id__in=stored).delete()
    now = timezone.now()
    known = list(RejectedItem.objects.filter(source=source, external_id__in=[i for i in ids if i not in stored]))
    for row in known:
        item = first[row.external_id]
        row.reason, row.lasting, row.checked_at = item.reason[:200], item.lasting, now
    RejectedItem.objects.bulk_update(known, ["reason", "lasting", "checked_at"])
    skip = stored | {row.external_id for row in known}
    new = [item for external_id, item in first.items() if external_id not in skip]
    RejectedItem.objects.bulk_create(
        [
            RejectedItem(source=source, external_id=item.external_id, reason=item.reason[:200], sync_run=sync_run,
                         lasting=item.lasting, rejected_at=now)
            for item in new
        ],
        ignore_conflicts=True,
    )
    return new


EXTERNAL_ID_LENGTH = Activity._meta.get_field("external_id").max_length


def rejected_items_resolve(*, source: Source, external_ids: "Iterable[str]") -> int:
    """Remove the rejected items of `source` whose activity is now stored; how many went.

    An item rejected for a reason that changed (a spam flag reverted, a bug reassigned away from
    nobody) and then stored is no longer rejected: the admin's list and counts say so. Called with
    the external ids of records just given to the ingestion service, in its transaction; only
    those it stored (or had stored before) count.
    """
    # Only ids a stored activity can have: a pushed record's id with a NUL or past the column's length
    # was refused by ingestion, and PostgreSQL refuses to even compare such a string.
    ids = {
        external_id for external_id in external_ids
        if isinstance(external_id, str) and "\x00" not in external_id and len(external_id) <= EXTERNAL_ID_LENGTH
    }
    if not ids:
        return 0
    rejected = set(RejectedItem.objects.filter(source=source, external_id__in=ids).values_list("external_id", flat=True))
    if not rejected:
        return 0
    stored = Activity.objects.filter(source=source, external_id__in=rejected).values_list("external_id", flat=True)
    deleted, _ = RejectedItem.objects.filter(source=source, external_id__in=list(stored)).delete()
    return deleted
