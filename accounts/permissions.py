"""Object-level rules: a community builder sees and edits only the areas they own.

Used by the conversion points admin and the staff API alike, so both answer the same way.
"""

from typing import Any

from django.db.models import QuerySet
from rest_framework.permissions import BasePermission

from conversion_points.models import Area

from .roles import BUILDER_GROUP

ALL_AREAS_PERMISSION = "accounts.view_all_areas"


def sees_all_areas(user: Any) -> bool:
    """Administrators and staff see every area; anyone else only the areas they own."""
    return bool(user and user.is_active and user.has_perm(ALL_AREAS_PERMISSION))


def areas_for(user: Any) -> QuerySet[Area]:
    """The areas whose rules and contributors `user` may see.

    Owning an area counts only while the user holds the community builder role: the provider
    decides the role, so a builder removed from the group at the provider loses her areas at her
    next sign-in or session check, even while an administrator has not yet removed her as owner.
    """
    if sees_all_areas(user):
        return Area.objects.all()
    if not user or not user.is_authenticated or not user.is_active:
        return Area.objects.none()
    if not user.groups.filter(name=BUILDER_GROUP).exists():
        return Area.objects.none()
    return Area.objects.filter(owners=user)




class SeesPeople(BasePermission):
    """People, identities and activities: staff and administrators (who may view people)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.has_perm("contributors.view_person"))


class SeesActivities(BasePermission):
    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.has_perm("activities.view_activity"))
