"""Activities, newest first, to filter, page by cursor and export (staff API)."""

from typing import Any

from django.db.models import QuerySet
from django_filters import CharFilter, FilterSet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request

from accounts.permissions import SeesActivities, activities_for
from activities.models import Activity

from ..pagination import ActivityPagination
from ..query import ID_SCHEMA, MOMENT_SCHEMA, ParsedFilter, StrictFilterBackend, parse_id, parse_moment
from ..schema import CSV_PARAMETER, staff_responses
from .base import StaffAPIView, iso
from .people import IdentitySerializer


class ActivitySerializer(serializers.ModelSerializer):
    source = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    identity = IdentitySerializer(read_only=True, allow_null=True)
    person = serializers.IntegerField(source="identity.person_id", read_only=True, allow_null=True)

    class Meta:
        model = Activity
        fields = ["id", "source", "external_id", "type", "occurred_at", "container", "url", "title", "identity", "person", "data"]


class ActivityFilter(FilterSet):
    """Free text is matched as given (no trimming); an empty `source`, `type` or `container` filters nothing."""

    source = CharFilter(field_name="source__slug", strip=False)
    type = CharFilter(method="of_types", strip=False)
    container = CharFilter(field_name="container", strip=False)
    since = ParsedFilter(parse=parse_moment, field_name="occurred_at", lookup_expr="gte")
    until = ParsedFilter(parse=parse_moment, field_name="occurred_at", lookup_expr="lt")
    person = ParsedFilter(parse=parse_id, field_name="identity__person_id")
    identity = ParsedFilter(parse=parse_id, field_name="identity_id")

    def of_types(self, activities: QuerySet[Activity], name: str, raw: str) -> QuerySet[Activity]:
        return activities.filter(type__in=[t.strip() for t in raw.split(",") if t.strip()])


@extend_schema(
    tags=["staff"],
    parameters=[
        OpenApiParameter("source", str, description="Source slug."),
        OpenApiParameter("type", str, description="Activity type; several separated by commas."),
        OpenApiParameter("container", str, description="Exact container, e.g. mozilla/kitsune."),
        OpenApiParameter("since", MOMENT_SCHEMA, description="From this date (its midnight, UTC) or date and time (inclusive)."),
        OpenApiParameter("until", MOMENT_SCHEMA, description="Before this date (its midnight, UTC) or date and time (exclusive)."),
        OpenApiParameter("person", ID_SCHEMA, description="A person's id."),
        OpenApiParameter("identity", ID_SCHEMA, description="An identity's id."),
        CSV_PARAMETER,
    ],
    responses=staff_responses(ActivitySerializer, exports=True, not_found="An invalid cursor."),
)
class ActivityListView(StaffAPIView, generics.ListAPIView):
    """Activities, newest first, with filters (staff and administrators)."""

    permission_classes = [IsAuthenticated, SeesActivities]
    serializer_class = ActivitySerializer
    pagination_class = ActivityPagination
    filter_backends = [StrictFilterBackend]
    filterset_class = ActivityFilter

    def get_queryset(self) -> QuerySet[Activity]:
        return activities_for(self.request.user).select_related("source", "identity__source")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        if not self.wants_csv():
            return super().list(request, *args, **kwargs)
        activities = self.filter_queryset(self.get_queryset()).order_by("-occurred_at", "-id")
        rows = (
            [a.pk, a.source.slug, a.external_id, a.type, iso(a.occurred_at), a.container, a.url, a.title,
             str(a.identity) if a.identity else "", a.identity.person_id if a.identity else ""]
            for a in activities.iterator(chunk_size=2000)
        )
        header = ["id", "source", "external_id", "type", "occurred_at", "container", "url", "title", "identity", "person"]
        return self.export(what="activities", count=activities.count(), filename="activities.csv", header=header, rows=rows)
