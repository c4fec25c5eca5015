"""Baloo's roles, how provider groups map to them, and the Django groups that carry their permissions.

| role | from the provider group(s) in | gets |
|---|---|---|
| administrator | `OIDC_ROLE_GROUPS` `admin=…` | everything (superuser) |
| staff | `staff=…` | the admin: people, identities, merges, sources, sync health; every area read-only but the sources it may draw on |
| community builder | `builder=…` | the admin: conversion points, targets, campaigns and contributors of the areas they own; sources read-only |
| contributor | anyone else allowed in | no admin; their own record |

Roles are applied on every sign-in, so the provider stays the one place where access is decided.
Only the two groups below are managed here; any other group a user is in is left alone.
"""

from collections.abc import Iterable, Mapping

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Q

from conversion_points.owners import BUILDER_GROUP

ADMIN = "admin"
STAFF = "staff"
BUILDER = "builder"
CONTRIBUTOR = "contributor"
ROLES = (ADMIN, STAFF, BUILDER, CONTRIBUTOR)

# Group names are data (they show in the admin as they are), so they are not translated.
STAFF_GROUP = "Baloo staff"  # the builders' group is named with area ownership (conversion_points.owners)
MANAGED_GROUPS = {STAFF: STAFF_GROUP, BUILDER: BUILDER_GROUP}

ALL = ("add", "change", "delete", "view")
# (app label, model) → actions; a model name of "*" means every model of the app.
GROUP_PERMISSIONS: dict[str, dict[tuple[str, str], tuple[str, ...]]] = {
    STAFF_GROUP: {
        ("contributors", "*"): ALL,
        ("activities", "*"): ALL,
        ("conversion_points", "*"): ("view",),
        ("metrics", "*"): ("view",),
        # Only an area's sources: the admin keeps every other field of an area read-only for staff.
        ("conversion_points", "area"): ("change",),
        ("accounts", "apitoken"): ALL,
        ("accounts", "authaudit"): ("view",),
        ("accounts", "all_areas"): ("view",),
    },
    BUILDER_GROUP: {
        # Object-level rules (accounts.permissions) narrow these to the areas the builder owns.
        ("conversion_points", "area"): ("view", "change"),
        ("conversion_points", "conversionpoint"): ALL,
        ("conversion_points", "campaign"): ALL,
        ("activities", "source"): ("view",),
        ("accounts", "apitoken"): ALL,
    },
}


def role_mapping() -> dict[str, set[str]]:
    """Role → provider group names, from `OIDC_ROLE_GROUPS` (`admin=a|b,staff=c,…` or a dict)."""
    raw = settings.OIDC_ROLE_GROUPS
    mapping: dict[str, set[str]] = {role: set() for role in ROLES}
    items: Iterable[tuple[str, object]]
    if isinstance(raw, Mapping):
        items = raw.items()
    else:
        items = (part.split("=", 1) for part in str(raw).split(",") if "=" in part)  # type: ignore[misc]
    for role, groups in items:
        role = role.strip().lower()
        if role not in mapping:
            continue
        names = groups if isinstance(groups, (list, tuple, set)) else str(groups).split("|")
        mapping[role].update(name.strip() for name in names if name.strip())
    return mapping


def claim_groups(claims: Mapping[str, object]) -> set[str]:
    """The provider groups in the configured claim (a list, or a space- or comma-separated string)."""
    value = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, (list, tuple, set)):
        return set()
    # Some providers send group paths (`/baloo-staff`); the last segment is the group's name.
    return {str(item).strip().rstrip("/").rsplit("/", 1)[-1] for item in value if str(item).strip()}


def roles_from_claims(claims: Mapping[str, object]) -> set[str]:
    """Every role the claims give; `contributor` when they give none of the others."""
    groups = claim_groups(claims)
    roles = {role for role, names in role_mapping().items() if groups & names}
    return roles or {CONTRIBUTOR}


def roles_of(user) -> set[str]:
    """The roles a user holds now, read back from their flags and managed groups."""
    roles: set[str] = set()
    if user.is_superuser:
        roles.add(ADMIN)
    names = set(user.groups.filter(name__in=MANAGED_GROUPS.values()).values_list("name", flat=True))
    roles.update(role for role, group in MANAGED_GROUPS.items() if group in names)
    return roles or {CONTRIBUTOR}


def _permissions_for(spec: dict[tuple[str, str], tuple[str, ...]], using: str) -> list[Permission]:
    query = Q(pk__in=[])
    for (app_label, model), actions in spec.items():
        if model == "all_areas":
            query |= Q(content_type__app_label=app_label, codename="view_all_areas")
            continue
        codenames = Q()
        for action in actions:
            codenames |= Q(codename__startswith=f"{action}_")
        where = Q(content_type__app_label=app_label) & codenames
        if model != "*":
            where &= Q(content_type__model=model, codename__in=[f"{action}_{model}" for action in actions])
        query |= where
    return list(Permission.objects.using(using).filter(query))


def role_groups_ensure(*, using: str = "default") -> dict[str, Group]:
    """Create the managed groups if needed and set exactly their permissions. Safe to re-run."""
    groups = {}
    with transaction.atomic(using=using):
        for name, spec in GROUP_PERMISSIONS.items():
            group, _ = Group.objects.using(using).get_or_create(name=name)
            group.permissions.set(_permissions_for(spec, using))
            groups[name] = group
    return groups
