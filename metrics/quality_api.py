"""`GET /api/v1/metrics/data-quality/`: how sure the numbers are (metrics/quality.py), as JSON or CSV.

Public like the rest of the metrics API: aggregates only, no person, no text a remote system wrote.
It answers before the first recompute too: data quality is most wanted when the numbers are not there.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from .api import FORMAT, MetricsView
from .quality import RUNS_CONSIDERED, data_quality


class SourceTotalSerializer(serializers.Serializer):
    items = serializers.CharField(help_text=_("The kind of item the system counted: bug, question, answer, commit…"))
    reported = serializers.IntegerField(help_text=_("How many such items the system itself says it holds."))
    stored = serializers.IntegerField(help_text=_("Items of this kind Baloo had stored as activities at that moment."))
    rejected = serializers.IntegerField(help_text=_("Items of this kind Baloo had read and rejected, with a reason."))
    missing = serializers.IntegerField(help_text=_("Reported, less stored and rejected (never below 0): items not read yet."))
    at = serializers.DateTimeField(allow_null=True, help_text=_("When the system said it."))


class ReasonCountSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text=_("One of the connectors' fixed wordings, or “other reason”."))
    count = serializers.IntegerField()


class SourceQualitySerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    enabled = serializers.BooleanField(help_text=_("False: syncing is paused."))
    fed_by = serializers.ChoiceField(
        choices=["sync", "import"], help_text=_("sync: Baloo asks the system; import: files and pushes only.")
    )
    last_success_at = serializers.DateTimeField(allow_null=True, help_text=_("When the last successful sync finished."))
    last_run_at = serializers.DateTimeField(allow_null=True, help_text=_("When the last finished sync ended, however it ended."))
    last_run_status = serializers.CharField(allow_null=True, help_text=_("succeeded, failed or deferred (rate limited)."))
    latest_activity_at = serializers.DateTimeField(allow_null=True, help_text=_("The time of the latest activity stored."))
    behind_seconds = serializers.IntegerField(
        allow_null=True,
        help_text=_("Seconds since the last successful sync (fed by import: since the latest activity); null: never."),
    )
    activities = serializers.IntegerField(help_text=_("Activities stored, counted or not."))
    totals = SourceTotalSerializer(many=True, help_text=_("What the system itself says it holds, where its API says it."))
    runs_considered = serializers.IntegerField(help_text=_("How many of the last sync runs the rejections cover."))
    rejected = serializers.IntegerField(help_text=_("Items those runs rejected."))
    rejected_by_reason = ReasonCountSerializer(many=True)


class IdentityQualitySerializer(serializers.Serializer):
    persons = serializers.IntegerField(help_text=_("Persons who count (no bots, no placeholder accounts) with an identity."))
    one_identity = serializers.IntegerField(help_text=_("Of them, persons known by one identity only."))
    one_identity_share = serializers.FloatField(allow_null=True, help_text=_("one_identity / persons; null without persons."))
    merge_suggestions_open = serializers.IntegerField(help_text=_("Merge suggestions waiting for a staff member."))
    claims_waiting = serializers.IntegerField(help_text=_("Contributors' claims of other accounts waiting for a staff member."))
    bots = serializers.IntegerField(help_text=_("Persons marked as bots: never counted."))
    placeholder_accounts = serializers.IntegerField(help_text=_("Placeholder accounts listed (no human: never counted)."))
    placeholder_persons = serializers.IntegerField(help_text=_("Placeholder accounts met in the activities."))
    placeholder_activities = serializers.IntegerField(help_text=_("Activities of placeholder accounts: kept, never counted."))
    staff = serializers.IntegerField(help_text=_("Persons with a staff period: left out of volunteer counts on those days."))


class DataQualitySerializer(serializers.Serializer):
    generated_at = serializers.DateTimeField(help_text=_("When these figures were read (kept for a minute)."))
    runs_considered = serializers.IntegerField(help_text=_("Rejections cover each source's last this many sync runs."))
    sources = SourceQualitySerializer(many=True)
    identity = IdentityQualitySerializer()


class DataQualityView(MetricsView):
    """How sure the numbers are: each source's lag, totals and rejections, and how well persons are known."""

    @extend_schema(
        operation_id="metrics_data_quality",
        description=(
            "Per source: the last successful sync and how far behind it is, the activities stored against what "
            f"the system itself reports, and the items the last {RUNS_CONSIDERED} sync runs rejected, by reason. For "
            "identity: the share of persons known by one identity only, merges waiting for review, bots, "
            "placeholder accounts and staff. Aggregates only."
        ),
        parameters=[FORMAT],
        responses={200: DataQualitySerializer},
    )
    def get(self, request: Request, format: str | None = None) -> Response:
        return Response(data_quality())

    def csv_rows(self, data: dict) -> tuple[list[str], list[list]]:
        """One figure a row: which source (empty for identity), what, of which item or reason, the value."""
        header = ["section", "source", "figure", "detail", "value"]
        rows: list[list] = []
        for source in data["sources"]:
            for figure in ("fed_by", "enabled", "last_success_at", "last_run_at", "last_run_status", "latest_activity_at",
                           "behind_seconds", "activities", "runs_considered", "rejected"):
                value = source[figure]
                rows.append(["source", source["slug"], figure, "", "" if value is None else value])
            for total in source["totals"]:
                for figure in ("reported", "stored", "rejected", "missing", "at"):
                    value = total[figure]
                    rows.append(["source", source["slug"], f"total_{figure}", total["items"], "" if value is None else value])
            for reason in source["rejected_by_reason"]:
                rows.append(["source", source["slug"], "rejected_by_reason", reason["reason"], reason["count"]])
        for figure, value in data["identity"].items():
            rows.append(["identity", "", figure, "", "" if value is None else value])
        return header, rows
