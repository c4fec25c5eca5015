"""Who owns which area: the areas whose rules and contributors a user may see.

Administrators and staff hold a permission to see every area; a community builder sees only the
areas they own. Used by the conversion points admin and, through `accounts.permissions`, the staff
API, so both answer the same way. The role's group and the permission are set up by
`accounts.roles`; they are named here because owning an area depends on them.
"""

from typing import Any

from django.db.models import QuerySet

from .models import Area

# Group names are data (they show in the admin as they are), so they are not translated.
BUILDER_GROUP = "Community builders"
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
