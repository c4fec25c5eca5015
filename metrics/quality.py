"""Data quality, published: how far behind each source is, what it holds against what the system says,
what was rejected and why, and how well persons are known. Aggregates only; no person, no remote text.

The rules, in the words of the common language (docs/common-language.md, "Data quality"):

- A source is **fed by sync** when its kind has a connector, else **by import** (files and pushes).
- **Last successful sync**: when the latest sync run that ended as succeeded finished. **Behind**: the
  time from then to now; for a source fed by import, the time from its latest activity (the latest
  `occurred_at` stored) to now. None when there is nothing to measure from.
- **Activities stored**: every activity of the source, counted or not (bots' and placeholder
  accounts' activities are kept too).
- **The system's own totals**: what the system itself reports holding, by kind of item (bugs,
  questions, answers, commits), beside the activities stored and items rejected of that kind at the
  same moment (`activities.sync._source_totals_keep`). Items, not activities.
- **Rejected in the last runs**: the items the last `RUNS_CONSIDERED` finished sync runs of the source
  rejected (a skipped run did nothing and is not one of them), counted by reason in the connectors'
  fixed wordings (`activities.connectors.base.REJECTION_REASONS`). A record the record checks
  refused is a "malformed record"; anything else, or a run from before reasons were counted, is
  "other reason". An item is rejected once (`RejectedItem`), on the run that first meets it.
- **Identity**: persons are the counted ones (`contributors.placeholders.counted`: neither bots nor
  placeholder accounts) holding at least one identity; **known by one identity only** are those of
  them with exactly one; **merges pending review** are the merge suggestions to review and the
  contributors' claims waiting for a staff member; **bots**, persons flagged bot; **placeholders**,
  the persons holding a placeholder account's identity, and the activities those identities hold;
  **staff**, persons with at least one staff period (their contributions on those days are left out of
  the volunteer counts).

Reading it costs a dozen small queries and two passes (the activities grouped by source, the
persons with their identity counts), so the answer is kept: the passes for the metric run they
were read with (identity changes and new activities each ask for a run), the sync figures for a
minute (a sync that stores nothing makes no run, and the lag must move).
"""

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from django.core.cache import cache
from django.db.models import Count, F, Max, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from activities.connectors import has_connector
from activities.connectors.base import OTHER_REASON, rejection_reason_published
from activities.models import Activity, Source, SyncRun, SyncState
from contributors.models import AccountClaim, EmailClaim, MergeSuggestion, Person, PlaceholderAccount, StaffPeriod
from contributors.placeholders import counted, placeholder_identities, placeholder_persons

from .selectors import metric_run_current, run_cached

RUNS_CONSIDERED = 10
CACHE_SECONDS = 60
CACHE_KEY = "data-quality:v1"


def data_quality() -> dict[str, Any]:
    """The published figures (`data_quality_build`), kept for `CACHE_SECONDS`."""
    value = cache.get(CACHE_KEY)
    if value is None:
        value = data_quality_build()
        cache.set(CACHE_KEY, value, CACHE_SECONDS)
    return value


def data_quality_build(*, now: datetime | None = None) -> dict[str, Any]:
    """Every figure of the data quality page and API, by the rules of this module's docstring."""
    now = now or timezone.now()
    run = metric_run_current()
    if run is None:
        stored, identity = _stored_by_source(), identity_quality()
    else:
        stored = run_cached(run=run, namespace="data-quality", name="stored", build=_stored_by_source)
        identity = run_cached(run=run, namespace="data-quality", name="identity", build=identity_quality)
    succeeded = dict(
        SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED).order_by().values("source_id")
        .annotate(at=Max("finished_at")).values_list("source_id", "at")
    )
    runs = _recent_runs()
    totals = dict(SyncState.objects.values_list("source_id", "source_totals"))
    sources = []
    # Only the sources the public dashboard already names (some enabled rule counts them): which other
    # sources exist — disabled ones, push-only intakes, webhooks' slugs — is not for anonymous visitors
    # (docs/security.md).
    public = Source.objects.filter(conversion_points__enabled=True).distinct()
    for source in public.order_by("slug").only("id", "slug", "name", "kind", "enabled"):
        count, latest = stored.get(source.pk, (0, None))
        fed_by = "sync" if has_connector(source.kind) else "import"
        last_success = succeeded.get(source.pk)
        since = last_success if fed_by == "sync" else (datetime.fromisoformat(latest) if latest else None)
        source_runs = runs.get(source.pk, [])
        reasons = _reasons(source_runs)
        sources.append({
            "slug": source.slug,
            "name": source.name,
            "kind": source.kind,
            "enabled": source.enabled,
            "fed_by": fed_by,
            "last_success_at": _iso(last_success),
            "last_run_at": _iso(source_runs[0]["finished_at"]) if source_runs else None,
            "last_run_status": source_runs[0]["status"] if source_runs else None,
            "latest_activity_at": _iso(latest),
            "behind_seconds": max(0, int((now - since).total_seconds())) if since else None,
            "activities": count,
            "totals": _totals(totals.get(source.pk)),
            "runs_considered": len(source_runs),
            "rejected": sum(reason["count"] for reason in reasons),
            "rejected_by_reason": reasons,
        })
    return {"generated_at": now.isoformat(), "runs_considered": RUNS_CONSIDERED, "sources": sources, "identity": identity}


def _stored_by_source() -> dict[int, tuple[int, str | None]]:
    """Each source's activities stored and its latest activity time (ISO), in one pass."""
    rows = Activity.objects.order_by().values("source_id").annotate(n=Count("id"), latest=Max("occurred_at"))
    return {row["source_id"]: (row["n"], _iso(row["latest"])) for row in rows}


def _recent_runs() -> dict[int, list[dict]]:
    """Each source's last `RUNS_CONSIDERED` finished runs, newest first (one query, a window)."""
    finished = SyncRun.objects.exclude(status__in=[SyncRun.Status.RUNNING, SyncRun.Status.SKIPPED]).annotate(
        rank=Window(RowNumber(), partition_by=[F("source_id")], order_by=[F("started_at").desc(), F("id").desc()])
    )
    runs: dict[int, list[dict]] = defaultdict(list)
    rows = finished.filter(rank__lte=RUNS_CONSIDERED).order_by("source_id", "rank").values(
        "source_id", "status", "finished_at", "rejected", "rejected_reasons"
    )
    for row in rows:
        runs[row["source_id"]].append(row)
    return runs


def _reasons(runs: list[dict]) -> list[dict]:
    """Rejections of `runs` by published reason, most first. What a run rejected beyond its counted
    reasons (a run from before reasons were counted) is "other reason"."""
    counts: dict[str, int] = defaultdict(int)
    for run in runs:
        by_reason = run["rejected_reasons"] if isinstance(run["rejected_reasons"], dict) else {}
        accounted = 0
        for reason, count in by_reason.items():
            if isinstance(count, int) and count > 0:
                counts[rejection_reason_published(str(reason))] += count
                accounted += count
        if run["rejected"] > accounted:
            counts[OTHER_REASON] += run["rejected"] - accounted
    return [{"reason": reason, "count": count} for reason, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def _totals(kept: Any) -> list[dict]:
    """The system's own totals kept on the sync state, checked: whole numbers only, in order of kind."""
    rows = []
    for kind, figures in sorted((kept or {}).items()) if isinstance(kept, dict) else []:
        if not isinstance(figures, dict):
            continue
        numbers = [figures.get(name) for name in ("reported", "stored", "rejected")]
        if not all(isinstance(number, int) and not isinstance(number, bool) and number >= 0 for number in numbers):
            continue
        reported, stored, rejected = numbers
        rows.append({"items": str(kind)[:40], "reported": reported, "stored": stored, "rejected": rejected,
                     "missing": max(0, reported - stored - rejected), "at": _iso_text(figures.get("at"))})
    return rows


def identity_quality() -> dict[str, Any]:
    """How well persons are known (see the module's docstring), in a few set-based queries."""
    known = (Person.objects.filter(counted("pk")).annotate(identity_count=Count("identities"))
             .filter(identity_count__gte=1).values("pk", "identity_count"))
    persons = known.aggregate(persons=Count("pk"), one=Count("pk", filter=Q(identity_count=1)))
    flags = Person.objects.aggregate(
        bots=Count("pk", filter=Q(is_bot=True)),
        staff=Count("pk", filter=Q(pk__in=StaffPeriod.objects.values("person_id"))),
    )
    claims = (EmailClaim.objects.filter(status=EmailClaim.Status.REVIEW).count()
              + AccountClaim.objects.filter(status=AccountClaim.Status.PENDING).count())
    return {
        "persons": persons["persons"],
        "one_identity": persons["one"],
        "one_identity_share": round(persons["one"] / persons["persons"], 4) if persons["persons"] else None,
        "merge_suggestions_open": MergeSuggestion.objects.filter(status=MergeSuggestion.Status.OPEN).count(),
        "claims_waiting": claims,
        "bots": flags["bots"],
        "placeholder_accounts": PlaceholderAccount.objects.count(),
        "placeholder_persons": placeholder_persons().count(),
        "placeholder_activities": Activity.objects.filter(identity__in=placeholder_identities()).count(),
        "staff": flags["staff"],
    }


def _iso(moment: datetime | str | None) -> str | None:
    if moment is None or isinstance(moment, str):
        return moment
    return moment.astimezone(UTC).isoformat()


def _iso_text(value: Any) -> str | None:
    """A time kept in JSON, given back only when it reads as one (never other text)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).isoformat()
    except ValueError:
        return None
