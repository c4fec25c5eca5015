"""Areas, and an area's active, new and lapsed contributors at a date (staff API; builders: their own areas)."""

from datetime import UTC
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request

from accounts.permissions import readable_people
from contributors.models import Person
from conversion_points.models import Area
from conversion_points.owners import areas_for, sees_all_areas

from ..pagination import StaffPagination
from ..query import QueryField, Refused, parse_day, query_read
from ..schema import CSV_PARAMETER, staff_responses
from .base import StaffAPIView, iso
from .people import IdentitySerializer
from .selectors import AreaContributor, area_contributors


class AreaSerializer(serializers.ModelSerializer):
    class Meta:
        model = Area
        fields = ["slug", "name", "target"]


@extend_schema(tags=["staff"], responses=staff_responses(AreaSerializer, not_found="A page past the last."))
class AreaListView(StaffAPIView, generics.ListAPIView):
    """The areas whose contributors you may see: all for staff, the ones you own for a community builder."""

    permission_classes = [IsAuthenticated]
    serializer_class = AreaSerializer
    pagination_class = StaffPagination
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]

    def get_queryset(self) -> QuerySet[Area]:
        return areas_for(self.request.user).order_by("position", "slug")


class AreaContributorSerializer(serializers.Serializer):
    person = serializers.IntegerField(source="person.pk")
    display_name = serializers.CharField(source="person.shown_name")
    status = serializers.ChoiceField(
        choices=["active", "new", "lapsed"], help_text="`new` people are active too; `lapsed` ones were active a week before and are not now."
    )
    first_contribution_at = serializers.DateTimeField(help_text="First-ever contribution to this area.")
    last_contribution_at = serializers.DateTimeField(help_text="Latest contribution to this area up to the date.")
    identities = IdentitySerializer(source="person.identities.all", many=True)


STATUSES = {"active": {"active", "new"}, "new": {"new"}, "lapsed": {"lapsed"}, "all": {"active", "new", "lapsed"}}


def parse_status(raw: str) -> str:
    if raw not in STATUSES:
        raise Refused(_("Use active, new, lapsed or all."))
    return raw


def parse_staff(raw: str) -> str:
    if raw != "include":
        raise Refused(_("Use include, or leave staff out."))
    return raw


class AreaContributorsQuery(forms.Form):
    """Not filters of a query set (a counting selector takes them), so a plain form of query fields."""

    status = QueryField(parse=parse_status)
    staff = QueryField(parse=parse_staff)
    date = QueryField(parse=parse_day)


@extend_schema(
    tags=["staff"],
    parameters=[
        OpenApiParameter("date", OpenApiTypes.DATE, description="The date D (default: today, UTC)."),
        OpenApiParameter("status", str, enum=list(STATUSES), description="`active` (default, new included), `new`, `lapsed` or `all`."),
        OpenApiParameter("staff", str, enum=["include"], description="Count staff too (volunteers only by default)."),
        OpenApiParameter("slug", {"type": "string", "pattern": r"^[-a-zA-Z0-9_]+$"}, OpenApiParameter.PATH, description="The area's slug."),
        CSV_PARAMETER,
    ],
    responses=staff_responses(
        AreaContributorSerializer, exports=True, not_found="No area of yours has this slug, or a page past the last.",
        not_found_in_csv=True, unrouted=True,
    ),
)
class AreaContributorsView(StaffAPIView, generics.ListAPIView):
    """An area's active, new and lapsed contributors for a date. Community builders: their own areas only."""

    permission_classes = [IsAuthenticated]
    serializer_class = AreaContributorSerializer
    pagination_class = StaffPagination

    def get_area(self) -> Area:
        area = areas_for(self.request.user).filter(slug=self.kwargs["slug"]).first()
        if area is None:
            # Another builder's area answers exactly like an area that does not exist.
            raise Http404
        return area

    def get_queryset(self) -> list[AreaContributor]:  # type: ignore[override]
        query = query_read(AreaContributorsQuery(self.request.query_params))
        status = query["status"] or "active"
        day = query["date"] or timezone.now().astimezone(UTC).date()
        user = self.request.user
        contributors = area_contributors(
            area=self.get_area(), day=day, include_staff=query["staff"] == "include", approved_only=not sees_all_areas(user),
            people=readable_people(user=user, people=Person.objects.all()),
        )
        return [c for c in contributors if c.status in STATUSES[status]]

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        if not self.wants_csv():
            return super().list(request, *args, **kwargs)
        contributors = self.get_queryset()
        rows = (
            [c.person.pk, c.person.shown_name, c.status, iso(c.first_contribution_at), iso(c.last_contribution_at),
             " ".join(str(i) for i in c.person.identities.all())]
            for c in contributors
        )
        header = ["person", "display_name", "status", "first_contribution_at", "last_contribution_at", "identities"]
        slug = self.kwargs["slug"]
        return self.export(
            what=f"area:{slug}:contributors", count=len(contributors), filename=f"{slug}-contributors.csv", header=header, rows=rows
        )
