"""People with their identities: a list to search, filter and export, and one person (staff API)."""

from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import ngettext
from django_filters import FilterSet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request

from accounts.permissions import SeesPeople, identities_for, people_for, people_with_contribution_dates, readable_people
from baloo_site.emails import email_lowercase
from contributors.models import Identity, Person, StaffPeriod
from contributors.staff import staff_on_q

from ..pagination import StaffPagination
from ..query import ParsedFilter, Refused, StrictFilterBackend, parse_flag
from ..schema import CSV_PARAMETER, staff_responses
from .base import StaffAPIView, iso


class IdentitySerializer(serializers.ModelSerializer):
    source = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True, help_text="The source it was first seen in (null if none is known)."
    )

    class Meta:
        model = Identity
        fields = ["id", "kind", "namespace", "value", "name", "source"]


class StaffPeriodSerializer(serializers.ModelSerializer):
    """Contributions on these days (UTC, both included; empty: open) count as staff."""

    class Meta:
        model = StaffPeriod
        fields = ["staff_from", "staff_until", "origin"]


class PersonSerializer(serializers.ModelSerializer):
    # What the reader may see (accounts.permissions.readable_people): a community builder, only the
    # identities of the activities they may read, and no name that only other sources report.
    display_name = serializers.CharField(source="shown_name", read_only=True)
    is_staff = serializers.BooleanField(read_only=True, help_text="Staff today (a staff period holds today).")
    staff_periods = StaffPeriodSerializer(many=True, read_only=True)
    identities = IdentitySerializer(many=True, read_only=True)
    # Read from the activities with the page (accounts.permissions.people_with_contribution_dates).
    first_contribution_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Their first contribution (any level), as far as the reader may see."
    )
    last_contribution_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Their latest contribution (any level), as far as the reader may see."
    )

    class Meta:
        model = Person
        fields = [
            "id", "display_name", "is_staff", "staff_periods", "is_bot", "directory_id", "locked",
            "first_contribution_at", "last_contribution_at", "identities",
        ]


# A search longer than any name or identity finds nothing, and SQLite refuses a LIKE pattern of
# 50,000 bytes: such a `q` is refused by name.
MAX_SEARCH_LENGTH = 320


def parse_search(raw: str) -> str:
    if len(raw) > MAX_SEARCH_LENGTH:
        raise Refused(
            ngettext("Search for at most %(most)s character.", "Search for at most %(most)s characters.", MAX_SEARCH_LENGTH)
            % {"most": MAX_SEARCH_LENGTH}
        )
    return raw


class PersonFilter(FilterSet):
    """`q`, `staff`, `bot` and `source`, searched only as far as the reader may read identities."""

    q = ParsedFilter(parse=parse_search, method="search")
    # "Staff" is staff today: a staff period holds today (contributions count by their own day).
    staff = ParsedFilter(parse=parse_flag, field_name="is_staff")
    bot = ParsedFilter(parse=parse_flag, field_name="is_bot")
    source = ParsedFilter(parse=str, method="first_seen_in")

    def search(self, people: QuerySet[Person], name: str, raw: str) -> QuerySet[Person]:
        text = raw.strip()
        # Identities are stored as their keys: e-mails in lower case, user names case-folded.
        values = Q(value__icontains=email_lowercase(text)) | Q(value__icontains=text.casefold())
        identities = identities_for(self.request.user).filter(values)
        return people.filter(Q(shown_name__icontains=text) | Q(pk__in=identities.values("person_id")))

    def first_seen_in(self, people: QuerySet[Person], name: str, slug: str) -> QuerySet[Person]:
        identities = identities_for(self.request.user).filter(source__slug=slug)
        return people.filter(pk__in=identities.values("person_id"))


def _people(user: Any) -> QuerySet[Person]:
    """The people `user` may read, as they may read them, staff today marked."""
    people = readable_people(user=user, people=people_for(user)).annotate(is_staff=staff_on_q()).prefetch_related("staff_periods")
    return people_with_contribution_dates(user=user, people=people)


@extend_schema(
    tags=["staff"],
    parameters=[
        OpenApiParameter("q", str, description="Part of a display name, e-mail or user name."),
        OpenApiParameter("staff", bool, description="`true`: staff today only; `false`: no one staff today."),
        OpenApiParameter("bot", bool, description="`true`: bots only; `false`: no bots."),
        OpenApiParameter("source", str, description="Only people with an identity first seen in this source (slug)."),
        CSV_PARAMETER,
    ],
    responses=staff_responses(PersonSerializer, exports=True, not_found="A page past the last."),
)
class PersonListView(StaffAPIView, generics.ListAPIView):
    """People with their identities (staff and administrators)."""

    permission_classes = [IsAuthenticated, SeesPeople]
    serializer_class = PersonSerializer
    pagination_class = StaffPagination
    filter_backends = [StrictFilterBackend]
    filterset_class = PersonFilter

    def get_queryset(self) -> QuerySet[Person]:
        return _people(self.request.user).order_by("id")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        if not self.wants_csv():
            return super().list(request, *args, **kwargs)
        people = self.filter_queryset(self.get_queryset())
        rows = (
            [p.pk, p.shown_name, p.is_staff, "; ".join(str(period) for period in p.staff_periods.all()),
             p.is_bot, p.directory_id or "", iso(p.first_contribution_at),
             iso(p.last_contribution_at), " ".join(str(i) for i in p.identities.all())]
            for p in people.iterator(chunk_size=2000)
        )
        header = [
            "id", "display_name", "is_staff", "staff_periods", "is_bot", "directory_id",
            "first_contribution_at", "last_contribution_at", "identities",
        ]
        return self.export(what="people", count=people.count(), filename="people.csv", header=header, rows=rows)


@extend_schema(
    tags=["staff"],
    parameters=[OpenApiParameter("id", {"type": "integer", "minimum": 1}, OpenApiParameter.PATH, description="The person's id.")],
    responses=staff_responses(PersonSerializer, not_found="No person has this id.", unrouted=True),
)
class PersonDetailView(StaffAPIView, generics.RetrieveAPIView):
    """One person with their identities."""

    permission_classes = [IsAuthenticated, SeesPeople]
    serializer_class = PersonSerializer
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]

    def get_queryset(self) -> QuerySet[Person]:
        # Someone a community builder may not read answers exactly like someone who does not exist.
        return _people(self.request.user)
