"""The sync service: runs a source's connector, page by page, through the ingestion service.

The rules that make a sync safe to kill and to repeat:
- a lock per source (a conditional UPDATE on its `SyncState` row, with an expiry) means a source
  never syncs twice at once; a live sync renews it (after each page, and from a heartbeat thread
  on PostgreSQL while a request or a git command takes long), so a lock left by a killed worker
  expires within `LOCK_SECONDS`, and the next beat tick resumes the source (`syncs_resume_lost`);
- each page's records are committed through `activities_ingest` together with the checkpoint that
  describes them, in one short transaction; no transaction is ever open during an HTTP call;
- so a worker killed mid-sync resumes from the last committed page: no gap (the page in flight is
  fetched again) and no duplicate ((source, external id) is unique);
- every run is recorded (`SyncRun`): times, status, requests, activities, the error if any.
"""

import logging
import threading
import time
import uuid
from datetime import datetime, timedelta

from django.db import connections, transaction
from django.db.models import Q
from django.utils import timezone

from baloo_site.bulk import is_postgresql

from .connectors import Page, RateLimited, SourceError, connector_for, has_connector
from .connectors.base import MALFORMED, Rejected, rejection_reason_published
from .connectors.http import SECONDARY_LIMIT_WAIT, HttpClient
from .models import Activity, RejectedItem, Source, SyncRun, SyncState
from .outbound import remote_text
from .services import activities_ingest, rejected_items_record, rejected_items_resolve

logger = logging.getLogger(__name__)

# A live sync renews its lock at least this often (heartbeat and pages): a lock not renewed for
# LOCK_SECONDS belongs to a killed worker, and the next beat tick (every 30 s) resumes its source.
LOCK_SECONDS = 45
LOCK_RENEW_SECONDS = 10
# Without the heartbeat thread (SQLite: the embedded default, tasks in the web process) a lock is
# renewed only after pages, so it lasts long enough for a slow request or a first git clone.
LOCK_SECONDS_WITHOUT_HEARTBEAT = 10 * 60
# A sync running longer than this is stuck (a server paging forever): its heartbeat stops renewing
# the lock, so beat gives the source to a new sync instead of leaving it held as long as the worker lives.
MAX_SYNC_SECONDS = 6 * 60 * 60
# A source is due at a beat tick when its next sync falls before the tick after it: a run starts a
# moment after the tick that enqueued it, so "every minute" must not wait for a second tick.
SCHEDULE_SLACK = timedelta(seconds=20)
# What a run record says when its worker died mid-sync.
LOST_RUN = "The worker running this sync stopped (killed or lost) before it ended; the next sync resumed from the last committed page."
REJECTION_SAMPLES = 20
# Each error line of a run record is at most this long (a refusal names its URL and the setting to change).
ERROR_LINE_LIMIT = 400
# Pages are committed in batches of about this many records, or this often, whichever comes first.
COMMIT_RECORDS = 2_000
COMMIT_SECONDS = 5.0
# Sources whose sync has been rate limited are retried a little after the reset, not at it.
RESET_MARGIN = timedelta(seconds=5)
# A secondary limit that names no time is waited out for a minute, then twice as long for each
# run in a row it stops (GitHub's documentation asks for an exponentially growing wait), up to
# 2**6 minutes: the source is never given up, and its health page says why it waits.
SECONDARY_LIMIT_MAX_DOUBLINGS = 6


class LockLost(Exception):
    """Another sync took over this source (our lock expired): stop without saving anything more."""


def sources_syncable() -> "list[Source]":
    """Enabled sources whose kind has a connector (import-only kinds are never synced)."""
    return [source for source in Source.objects.filter(enabled=True).order_by("slug") if has_connector(source.kind)]


def syncs_claim_due(*, now: datetime | None = None) -> list[str]:
    """Slugs of the sources due for a sync by their schedule, each claimed so it is enqueued once.

    Claiming moves the source's next sync a full period ahead; the run itself sets it again when it
    ends (a period after it finished, or after the rate-limit reset).
    """
    now = now or timezone.now()
    claimed = []
    for source in sources_syncable():
        if source.schedule_minutes <= 0:
            continue
        state, _created = SyncState.objects.get_or_create(source=source)
        due = Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=now + SCHEDULE_SLACK)
        if SyncState.objects.filter(due, pk=state.pk).update(next_sync_at=now + timedelta(minutes=source.schedule_minutes)):
            claimed.append(source.slug)
    return claimed


def source_sync(
    *, source: Source, trigger: str = "schedule", client: HttpClient | None = None, lock_seconds: int | None = None
) -> SyncRun:
    """Sync `source` from its checkpoint to now and return the run record.

    Errors end the run, recorded on it, never half-way through a page: what was committed stays
    committed and the next run resumes from there. A rate limit ends it as `deferred` with the
    time to resume at (`run.resume_at`), which the Celery task reschedules itself for.
    """
    if lock_seconds is None:
        lock_seconds = LOCK_SECONDS if is_postgresql() else LOCK_SECONDS_WITHOUT_HEARTBEAT
    state, _created = SyncState.objects.get_or_create(source=source)
    owner = uuid.uuid4().hex
    if not _lock_acquire(state, owner=owner, seconds=lock_seconds):
        return SyncRun.objects.create(
            source=source, trigger=trigger, status=SyncRun.Status.SKIPPED, finished_at=timezone.now(),
            error="Another sync of this source is running; this one did nothing.",
        )
    run = SyncRun.objects.create(source=source, trigger=trigger)
    heartbeat = _Heartbeat(state.pk, owner=owner, seconds=lock_seconds)
    connector = None
    # Any run that a secondary limit does not stop ends a streak of them.
    secondary_limits = 0
    errors: list[str] = []
    pending = _Pending()
    try:
        # Inside the try: a source refused before its first request (a token variable not named
        # BALOO_TOKEN_…, a base URL that is not http(s)) ends as a failed run that says why.
        connector = connector_for(source, client=client)
        checkpoint = SyncState.objects.values_list("checkpoint", flat=True).get(pk=state.pk) or {}
        for page in connector.pages(checkpoint):
            heartbeat.beat()
            pending.add(page)
            errors.extend(page.errors)
            if pending.full():
                _pending_commit(run, state, pending, owner=owner, lock_seconds=lock_seconds, client=connector.client)
        _pending_commit(run, state, pending, owner=owner, lock_seconds=lock_seconds, client=connector.client)
        run.status = SyncRun.Status.FAILED if errors else SyncRun.Status.SUCCEEDED
    except RateLimited as limited:
        # Pages fetched before the limit are good: keep them.
        _pending_commit(run, state, pending, owner=owner, lock_seconds=lock_seconds, client=connector.client)
        if limited.backoff:
            limited = limited.later(_backoff_until(limited.resume_at, repeats=state.secondary_limits))
        secondary_limits = state.secondary_limits + 1 if limited.secondary else 0
        run.status, run.resume_at = SyncRun.Status.DEFERRED, limited.resume_at + RESET_MARGIN
        errors.append(str(limited))
    except SourceError as error:
        if connector is not None:
            _pending_commit(run, state, pending, owner=owner, lock_seconds=lock_seconds, client=connector.client)
        run.status = SyncRun.Status.FAILED
        errors.append(str(error))
    except LockLost as error:
        run.status = SyncRun.Status.FAILED
        errors.append(str(error))
    except Exception as error:  # noqa: BLE001 - any failure must end up on the run, not only in a log
        logger.exception("sync of %s failed", source.slug)
        run.status = SyncRun.Status.FAILED
        errors.append(f"unexpected {type(error).__name__}: {error}")
    finally:
        heartbeat.stop()
        if connector is not None:
            run.requests, run.not_modified = connector.client.requests_made, connector.client.not_modified
        run.finished_at = timezone.now()
        # Connectors' messages can quote what a remote system said: cleaned and capped like the client's.
        run.error = "\n".join(remote_text(error, limit=ERROR_LINE_LIMIT) for error in errors)
        if run.status == SyncRun.Status.RUNNING:
            run.status = SyncRun.Status.FAILED
        run.save()
        _lock_release(state, owner=owner, next_sync_at=_next_sync_at(source, run), secondary_limits=secondary_limits)
    return run


def source_sync_restart(*, source: Source) -> None:
    """Forget the checkpoint: the next sync reads the source from the beginning (nothing is doubled)."""
    SyncState.objects.update_or_create(source=source, defaults={"checkpoint": {}})


class _Pending:
    """Pages fetched but not yet committed: committed together, for speed, with the last page's checkpoint.

    A page is small (100 items); one transaction per page would spend more time committing than
    storing. A batch is committed when it holds enough records or has waited long enough, so the
    run record shows progress and a killed worker re-fetches only a few pages.
    """

    def __init__(self) -> None:
        self.records: list[dict] = []
        self.rejected: list[Rejected] = []
        self.checkpoint: dict | None = None
        self.source_total: dict[str, int] = {}
        self.pages = 0
        self.since = time.monotonic()

    def add(self, page: Page) -> None:
        self.records.extend(page.records)
        self.rejected.extend(page.rejected)
        self.checkpoint = page.checkpoint
        self.source_total.update(page.source_total or {})
        self.pages += 1

    def full(self) -> bool:
        return len(self.records) + len(self.rejected) >= COMMIT_RECORDS or time.monotonic() - self.since >= COMMIT_SECONDS

    def clear(self) -> None:
        self.__init__()


def _pending_commit(run: SyncRun, state: SyncState, pending: _Pending, *, owner: str, lock_seconds: int, client: HttpClient) -> None:
    if pending.checkpoint is None:
        return
    _page_commit(
        run, state, owner=owner, records=pending.records, rejected=pending.rejected, checkpoint=pending.checkpoint,
        lock_seconds=lock_seconds, source_total=pending.source_total,
    )
    run.pages += pending.pages
    pending.clear()
    run.requests, run.not_modified = client.requests_made, client.not_modified
    run.save(update_fields=["requests", "not_modified", "pages", "created", "duplicate", "rejected", "rejections",
                            "rejected_reasons"])


def _page_commit(
    run: SyncRun, state: SyncState, *, owner: str, records: list[dict], rejected: list[Rejected], checkpoint: dict,
    lock_seconds: int, source_total: dict[str, int] | None = None,
) -> None:
    """Store pages' records, the items they reject and the checkpoint after them, together, or neither.

    Records the ingestion service rejects (malformed) count on every run that reads them; items the
    connector rejected count on the first run that meets them only, and an item rejected earlier
    that is stored now (its spam flag reverted) is no longer among the rejected items.
    """
    with transaction.atomic():
        result = activities_ingest(records=enumerate(records))
        rejected_items_resolve(source=run.source, external_ids=(record.get("external_id") for record in records))
        first_met = rejected_items_record(source=run.source, rejected=rejected, sync_run=run)
        advanced = SyncState.objects.filter(pk=state.pk, lock_owner=owner).update(
            checkpoint=checkpoint, locked_until=timezone.now() + timedelta(seconds=lock_seconds)
        )
        if not advanced:
            raise LockLost("The lock on this source expired and another sync took over; this run stopped.")
        if source_total:
            _source_totals_keep(state, source_total)
    run.created += result.created
    run.duplicate += result.duplicate
    run.rejected += len(result.rejected) + len(first_met)
    samples = [
        *(
            (record.get("external_id", "") if isinstance(record := records[rejection.position], dict) else "", rejection.reason)
            for rejection in result.rejected
        ),
        *((item.external_id, item.reason) for item in first_met),
    ]
    for external_id, reason in samples[: max(0, REJECTION_SAMPLES - len(run.rejections))]:
        run.rejections.append({"external_id": external_id, "reason": reason})
    # Counted by fixed wording only: an ingestion refusal names the field and may quote its value.
    reasons = [MALFORMED] * len(result.rejected) + [rejection_reason_published(item.reason) for item in first_met]
    for reason in reasons:
        run.rejected_reasons[reason] = run.rejected_reasons.get(reason, 0) + 1


def _source_totals_keep(state: SyncState, source_total: dict[str, int]) -> None:
    """Keep what the system says it holds (`Page.source_total`) beside what is stored and rejected of
    each kind of item at this moment (inside the page's transaction, so the three agree in time)."""
    totals = dict(SyncState.objects.values_list("source_totals", flat=True).get(pk=state.pk) or {})
    now = timezone.now().isoformat()
    for kind, reported in source_total.items():
        prefix = f"{kind}:"
        totals[kind] = {
            "reported": reported,
            "stored": Activity.objects.filter(source_id=state.source_id, external_id__startswith=prefix).count(),
            "rejected": RejectedItem.objects.filter(source_id=state.source_id, external_id__startswith=prefix).count(),
            "at": now,
        }
    SyncState.objects.filter(pk=state.pk).update(source_totals=totals)


class _Heartbeat:
    """Keeps a live sync's lock: renewed after each page, and on PostgreSQL every `LOCK_RENEW_SECONDS`
    from a thread of its own, so a slow request (retries, a rate-limit wait) or a long git command
    does not let the lock lapse while the worker lives. A killed worker stops renewing it.

    The thread writes through its own database connection, outside the sync's transactions, and
    skips a renewal when the sync itself holds the row (it is committing, and renews it then). On
    SQLite, the embedded default, tasks run in the web process: nothing separate can die, and the
    renewal after each page is enough.
    """

    def __init__(self, state_pk: int, *, owner: str, seconds: int) -> None:
        self.state_pk, self.owner, self.seconds = state_pk, owner, seconds
        self.renewed = time.monotonic()
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        if is_postgresql():
            self.thread = threading.Thread(target=self._run, name=f"sync-heartbeat-{state_pk}", daemon=True)
            self.thread.start()

    def beat(self) -> None:
        """After a page: renew the lock if it is due (one UPDATE every few seconds, not per page)."""
        if time.monotonic() - self.renewed < min(LOCK_RENEW_SECONDS, self.seconds / 3):
            return
        if not _lock_renew(self.state_pk, owner=self.owner, seconds=self.seconds):
            raise LockLost("The lock on this source expired and another sync took over; this run stopped.")
        self.renewed = time.monotonic()

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=LOCK_RENEW_SECONDS)

    def _run(self) -> None:
        try:
            began = time.monotonic()
            while not self.stopped.wait(min(LOCK_RENEW_SECONDS, self.seconds / 3)):
                if time.monotonic() - began > MAX_SYNC_SECONDS:
                    logger.warning("sync of source state %s runs past %s s: its lock is no longer renewed", self.state_pk, MAX_SYNC_SECONDS)
                    return
                try:
                    with transaction.atomic():
                        held = SyncState.objects.select_for_update(skip_locked=True).filter(pk=self.state_pk, lock_owner=self.owner)
                        if held.exists():
                            held.update(locked_until=timezone.now() + timedelta(seconds=self.seconds))
                except Exception:  # noqa: BLE001 - a missed beat is retried; the sync itself must go on
                    logger.warning("sync heartbeat of source state %s failed", self.state_pk, exc_info=True)
        finally:
            connections.close_all()


def syncs_resume_lost(*, now: datetime | None = None) -> list[str]:
    """Sources whose sync died with its worker (the lock was not renewed in time): their runs are
    marked failed, saying so, and the sources are claimed to sync again at once (their slugs returned).

    Each lapsed lock is released by one conditional UPDATE, so two beat ticks never both resume a
    source; a sync that started after that release is left alone (it started after `now`).
    """
    now = now or timezone.now()
    resumed = []
    for state in SyncState.objects.filter(locked_until__lt=now).exclude(lock_owner="").select_related("source"):
        released = SyncState.objects.filter(pk=state.pk, lock_owner=state.lock_owner, locked_until__lt=now).update(
            lock_owner="", locked_until=None, next_sync_at=now + timedelta(minutes=max(state.source.schedule_minutes, 1))
        )
        if not released:
            continue
        SyncRun.objects.filter(source_id=state.source_id, status=SyncRun.Status.RUNNING, started_at__lt=now).update(
            status=SyncRun.Status.FAILED, finished_at=now, error=LOST_RUN
        )
        if state.source.enabled and has_connector(state.source.kind):
            resumed.append(state.source.slug)
    return resumed


def _lock_renew(state_pk: int, *, owner: str, seconds: int) -> bool:
    return bool(
        SyncState.objects.filter(pk=state_pk, lock_owner=owner).update(locked_until=timezone.now() + timedelta(seconds=seconds))
    )


def _lock_acquire(state: SyncState, *, owner: str, seconds: int) -> bool:
    now = timezone.now()
    free = Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    return bool(
        SyncState.objects.filter(free, pk=state.pk).update(lock_owner=owner, locked_until=now + timedelta(seconds=seconds))
    )


def _lock_release(state: SyncState, *, owner: str, next_sync_at: datetime | None, secondary_limits: int) -> None:
    SyncState.objects.filter(pk=state.pk, lock_owner=owner).update(
        lock_owner="", locked_until=None, next_sync_at=next_sync_at, secondary_limits=secondary_limits
    )


def _backoff_until(least: datetime, *, repeats: int) -> datetime:
    """When to come back after a secondary limit that named no time, the `repeats`-th such run in a row."""
    wait = timedelta(seconds=SECONDARY_LIMIT_WAIT) * 2 ** min(repeats, SECONDARY_LIMIT_MAX_DOUBLINGS)
    return max(least, timezone.now() + wait)


def _next_sync_at(source: Source, run: SyncRun) -> datetime | None:
    period = timedelta(minutes=source.schedule_minutes) if source.schedule_minutes > 0 else None
    if run.status == SyncRun.Status.DEFERRED and run.resume_at:
        # The task reschedules itself for the reset; the schedule is only the safety net.
        return run.resume_at + (period or timedelta(0))
    # A period after the run started, so `schedule_minutes: 1` runs every minute however long a run takes.
    return max(run.started_at + period, run.finished_at) if period else None


def run_summary(run: SyncRun) -> dict:
    return {
        "source": run.source.slug,
        "status": run.status,
        "requests": run.requests,
        "not_modified": run.not_modified,
        "created": run.created,
        "duplicate": run.duplicate,
        "rejected": run.rejected,
        "error": run.error,
        "resume_at": run.resume_at.isoformat() if run.resume_at else None,
    }
