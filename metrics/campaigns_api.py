"""`GET /api/v1/metrics/campaigns/`: each campaign and its areas' new contributors during it and the 12 weeks before.

Public, aggregates only, JSON or CSV, cached per run like the rest of the public metrics API.
The rules are `metrics.campaigns`'.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from conversion_points.models import Area, Campaign

from .api import ERRORS, FORMAT, STAFF, MetricsView, population
from .campaigns import BEFORE_WEEKS, campaign_effects


class CampaignsQuerySerializer(serializers.Serializer):
    area = serializers.RegexField(
        r"^[-a-zA-Z0-9_]+$",
        max_length=100,
        required=False,
        help_text=_("Only this area's campaigns, and only its figures (an area's slug)."),
        error_messages={"invalid": _("Give an area's slug: letters, digits, - and _.")},
    )
    staff = serializers.ChoiceField(choices=["include"], required=False, help_text=_("“include” counts staff too."))


class StretchSerializer(serializers.Serializer):
    weeks = serializers.IntegerField(help_text=_("Computed weeks counted."))
    new = serializers.IntegerField(help_text=_("New contributors in those weeks (first contribution in the area)."))
    per_week = serializers.FloatField(allow_null=True, help_text=_("Their average per week; null without a week."))


class CampaignAreaSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    during = StretchSerializer(allow_null=True, help_text=_("The campaign's computed weeks; null while it is planned."))
    before = StretchSerializer(allow_null=True, help_text=_("The 12 weeks before its first week; null while it is planned."))


class CampaignSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    start = serializers.DateField(help_text=_("The campaign's first day (UTC)."))
    end = serializers.DateField(help_text=_("The campaign's last day (UTC)."))
    first_week = serializers.DateField(help_text=_("The Sunday of the week holding the first day."))
    last_week = serializers.DateField(help_text=_("The Sunday of the week holding the last day."))
    status = serializers.ChoiceField(
        choices=["planned", "in_progress", "over"],
        help_text=_("planned: no week of it is computed yet; in_progress: some are; over: all are."),
    )
    partial = serializers.BooleanField(help_text=_("True until the campaign's last week is computed."))
    areas = CampaignAreaSerializer(many=True)


class CampaignsSerializer(serializers.Serializer):
    before_weeks = serializers.IntegerField(help_text=_("The weeks compared before each campaign: 12."))
    campaigns = CampaignSerializer(many=True)


class MetricsCampaignsView(MetricsView):
    """Campaigns, oldest first, with each area's new contributors during the campaign and the 12 weeks before."""

    query_serializer = CampaignsQuerySerializer

    @extend_schema(
        operation_id="metrics_campaigns",
        parameters=[
            OpenApiParameter("area", OpenApiTypes.STR, description="Only this area's campaigns and figures (a slug)."),
            STAFF,
            FORMAT,
        ],
        responses={200: CampaignsSerializer, 404: OpenApiResponse(description="Unknown area."), **ERRORS},
    )
    def get(self, request: Request, format: str | None = None) -> Response:
        query = self.query(request)
        run = self.current_run()
        area = None
        if "area" in query:
            area = Area.objects.filter(slug=query["area"]).first()
            if area is None:
                raise NotFound(_("Unknown area %(area)s.") % {"area": query["area"]})

        def build() -> dict:
            campaigns = Campaign.objects.prefetch_related("areas").order_by("start", "slug")
            if area is not None:
                campaigns = campaigns.filter(areas=area)
            effects = campaign_effects(run=run, campaigns=campaigns, population=population(query), area=area)
            return {"before_weeks": BEFORE_WEEKS, "campaigns": [effect.public() for effect in effects]}

        return Response(self.cached(run, request, build))

    def csv_rows(self, data: dict) -> tuple[list[str], list[list]]:
        header = [
            "campaign", "name", "start", "end", "first_week", "last_week", "status", "partial", "area", "area_name",
            "weeks", "new", "per_week", "weeks_before", "new_before", "per_week_before",
        ]
        rows = []
        for campaign in data["campaigns"]:
            start = [
                campaign["slug"], campaign["name"], campaign["start"], campaign["end"], campaign["first_week"],
                campaign["last_week"], campaign["status"], str(campaign["partial"]).lower(),
            ]
            for area in campaign["areas"]:
                during, before = area["during"] or {}, area["before"] or {}
                cells = [during.get("weeks"), during.get("new"), during.get("per_week")]
                cells += [before.get("weeks"), before.get("new"), before.get("per_week")]
                rows.append([*start, area["slug"], area["name"], *("" if cell is None else cell for cell in cells)])
        return header, rows
