"""Object-level rules: a community builder sees and edits only the areas they own.

Used by the conversion points admin and the staff API alike, so both answer the same way. Whatever
else a builder is given, the people and activities they may read are only those their own areas'
conversion points find, over the sources staff let those areas draw on (`Area.sources`), and only
through the points staff approved as they are (`ConversionPoint.is_approved`): a builder's new or
widened rule shows no one until staff approve it. Of those people, a builder reads only the identities
(addresses, logins and the names they report) of the activities they may read: an address or login a
person's other sources know stays out of their sight, and out of their searches.
"""

from typing import Any

from django.db.models import Case, Exists, F, OuterRef, Prefetch, QuerySet, Value, When
from rest_framework.permissions import BasePermission

from activities.models import Activity
from contributors.models import Identity, Person
from conversion_points.contributions import persons_with_contribution_dates
from conversion_points.models import ConversionPoint
from conversion_points.owners import areas_for, sees_all_areas
from conversion_points.rules import COUNTED_LEVELS

from .selectors import contributions_of_areas


def people_for(user: Any) -> QuerySet[Person]:
    """The people whose records `user` may read: everyone for staff, else their areas' contributors."""
    if sees_all_areas(user):
        return Person.objects.all()
    return Person.objects.filter(pk__in=activities_for(user).values("identity__person_id"))


def activities_for(user: Any) -> QuerySet[Activity]:
    """The activities `user` may read: all for staff, else the contributions to their areas by approved rules."""
    if sees_all_areas(user):
        return Activity.objects.all()
    return contributions_of_areas(areas=areas_for(user), approved_only=True)


def people_with_contribution_dates(*, user: Any, people: QuerySet[Person]) -> QuerySet[Person]:
    """`people` with their first and last contribution as `user` may see them: every contribution for
    staff, else only the contributions to their areas by approved active or core rules (what
    `activities_for` lets them read)."""
    if sees_all_areas(user):
        return persons_with_contribution_dates(people)
    points = (
        ConversionPoint.objects.over_area_sources()
        .approved()
        .filter(area__in=areas_for(user), level__in=COUNTED_LEVELS)
    )
    return persons_with_contribution_dates(people, points=points)


def identities_for(user: Any) -> QuerySet[Identity]:
    """The identities `user` may read: all for staff, else only those of the activities they may read."""
    if sees_all_areas(user):
        return Identity.objects.all()
    return Identity.objects.filter(pk__in=activities_for(user).values("identity_id"))


def readable_people(*, user: Any, people: QuerySet[Person]) -> QuerySet[Person]:
    """`people` as `user` may read them: `identities` holds only the identities they may read
    (prefetched in one query, ordered by kind and value), and `shown_name` is the display name, or
    empty when only identities they may not read report that name (it came from another source).

    Staff and administrators read every identity and every name.
    """
    identities = Prefetch("identities", identities_for(user).select_related("source").order_by("kind", "value"))
    if sees_all_areas(user):
        return people.annotate(shown_name=F("display_name")).prefetch_related(identities)
    readable = identities_for(user)
    named = Identity.objects.filter(person=OuterRef("pk"), name=OuterRef("display_name"))
    from_elsewhere = Exists(named.exclude(pk__in=readable.values("pk"))) & ~Exists(named.filter(pk__in=readable.values("pk")))
    return people.annotate(
        shown_name=Case(When(from_elsewhere, then=Value("")), default=F("display_name"))
    ).prefetch_related(identities)


def readable_people_among(*, user: Any, person_ids: list[int]) -> QuerySet[Person]:
    """Of these persons, the ones `user` may read (`people_for`), as `readable_people` shows them.

    What the rule editor's preview names (the setting `BALOO_READABLE_PEOPLE`): a builder sees who a
    rule adds or removes only among the people their approved rules already show them.
    """
    return readable_people(user=user, people=people_for(user).filter(pk__in=person_ids))


class SeesPeople(BasePermission):
    """People, identities and activities: staff and administrators (who may view people)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.has_perm("contributors.view_person"))


class SeesEveryArea(BasePermission):
    """Questions about anyone at all (the de-duplication check): staff and administrators only."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return sees_all_areas(request.user)


class SeesActivities(BasePermission):
    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.has_perm("activities.view_activity"))
