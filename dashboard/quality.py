"""The public data quality page, `/<lang>/data-quality/`: how sure the numbers are (metrics/quality.py).

Every figure comes with what it counts, linked to its rule further down the page. The figures are
kept for a minute (`metrics.quality.data_quality`); the page around them is drawn per request, in
the reader's language, with times as "3 hours ago" in it.
"""

from datetime import datetime, timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from activities.connectors.base import DELETED_ACCOUNT, MALFORMED, NO_AUTHOR, NO_TIME, OTHER_REASON
from activities.connectors.bugzilla import FIXED_BY_NOBODY
from activities.connectors.github import ACCOUNT_WITHOUT_ID, MERGED_WITHOUT_DATE
from activities.connectors.sumo import NOT_SERVED, OUTSIDE, QUESTION_NOT_SERVED, SPAM
from metrics.quality import RUNS_CONSIDERED, data_quality

from .views import public_page

# The connectors' fixed reasons, in the reader's language (a reason declared by a newer connector
# and not listed here is shown as it is written: a fixed wording, never a system's text).
REASONS = {
    DELETED_ACCOUNT: gettext_lazy("deleted account"),
    NO_AUTHOR: gettext_lazy("no author named"),
    NO_TIME: gettext_lazy("no time given"),
    MALFORMED: gettext_lazy("malformed record"),
    OTHER_REASON: gettext_lazy("other reason"),
    FIXED_BY_NOBODY: gettext_lazy("fixed with no assignee (the default assignee fixes nothing)"),
    MERGED_WITHOUT_DATE: gettext_lazy("merged pull request without a merge date"),
    ACCOUNT_WITHOUT_ID: gettext_lazy("account without an id"),
    SPAM: gettext_lazy("marked as spam"),
    QUESTION_NOT_SERVED: gettext_lazy("question not served (hidden or deleted)"),
    NOT_SERVED: gettext_lazy("not served (hidden or deleted)"),
    OUTSIDE: gettext_lazy("outside the source's products and locales"),
}
# The kinds of item systems report totals of.
ITEMS = {
    "bug": gettext_lazy("Bugs"),
    "question": gettext_lazy("Questions"),
    "answer": gettext_lazy("Answers"),
    "commit": gettext_lazy("Commits"),
}
STATUSES = {
    "succeeded": gettext_lazy("succeeded"),
    "failed": gettext_lazy("failed"),
    "deferred": gettext_lazy("rate limited, resumes later"),
}


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _source_context(source: dict, now: datetime) -> dict:
    return {
        **source,
        "last_success": _moment(source["last_success_at"]),
        "last_run": _moment(source["last_run_at"]),
        "last_run_status_text": STATUSES.get(source["last_run_status"] or "", source["last_run_status"] or ""),
        "latest_activity": _moment(source["latest_activity_at"]),
        "behind": timesince(now - timedelta(seconds=source["behind_seconds"]), now, depth=2)
        if source["behind_seconds"] is not None else None,
        "totals": [{**total, "label": ITEMS.get(total["items"], total["items"]), "moment": _moment(total["at"])}
                   for total in source["totals"]],
        "reasons": [{"text": REASONS.get(reason["reason"], reason["reason"]), "count": reason["count"]}
                    for reason in source["rejected_by_reason"]],
    }


@public_page
def data_quality_page(request: HttpRequest) -> HttpResponse:
    """Per source: how far behind, what is stored against what the system says, what was rejected and
    why; for identity: how well persons are known. No peer publishes this."""
    figures = data_quality()
    now = timezone.now()
    identity = figures["identity"]
    base = reverse("metrics-data-quality")
    context = {
        "title": _("Data quality"),
        "sources": [_source_context(source, now) for source in figures["sources"]],
        "identity": identity,
        "one_identity_percent": round(100 * identity["one_identity_share"]) if identity["one_identity_share"] is not None else None,
        "runs_considered": RUNS_CONSIDERED,
        "generated": _moment(figures["generated_at"]),
        "links": {"json": base, "csv": f"{base}?format=csv"},
    }
    return render(request, "dashboard/data_quality.html", context)
