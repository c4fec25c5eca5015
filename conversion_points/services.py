"""Writes about areas and conversion points, and configuration as code (sources, areas, rules).

The file format is the public contract in docs/contracts.md: loading is an upsert by slug, and
dumping gives back a file that loads to the same state.
"""

import re
from typing import Any

from django.conf import settings
from django.db import transaction

from activities.connections import source_connection_audit, source_connection_before
from activities.models import Source, SourceConnectionChange
from activities.validators import base_url_problem, is_activity_type, token_env_problem

from .models import Area, ConversionPoint

LANGUAGE_CODES = [code for code, _name in settings.LANGUAGES]
TRANSLATED_FIELDS = {"area": ("name", "description"), "conversion_point": ("name", "description", "recognition")}
SOURCE_FIELDS = ("kind", "name", "base_url", "options", "token_env", "schedule_minutes", "account_namespace", "enabled")
LEVELS = {level.value for level in ConversionPoint.Level}
SLUG_PATTERN = re.compile(r"^[-a-zA-Z0-9_]+$")


class ConfigError(ValueError):
    """A configuration file that cannot be loaded; the message says where and why."""


def _translations(value: Any, *, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {settings.LANGUAGE_CODE: value}
    if not isinstance(value, dict) or not all(isinstance(text, str) for text in value.values()):
        raise ConfigError(f"{where}: give a text, or an object of texts by language such as {{\"en\": \"…\"}}")
    unknown = sorted(set(value) - set(LANGUAGE_CODES))
    if unknown:
        raise ConfigError(f"{where}: unknown language {', '.join(unknown)} (configured: {', '.join(LANGUAGE_CODES)})")
    return value


def _set_translations(obj: Area | ConversionPoint, field: str, texts: dict[str, str]) -> None:
    for code in LANGUAGE_CODES:
        setattr(obj, f"{field}_{code.replace('-', '_')}", texts.get(code, ""))


def _get_translations(obj: Area | ConversionPoint, field: str) -> dict[str, str]:
    texts = {}
    for code in LANGUAGE_CODES:
        text = getattr(obj, f"{field}_{code.replace('-', '_')}", None)
        if text:
            texts[code] = text
    return texts


def _require_slug(item: dict, *, where: str) -> str:
    slug = item.get("slug")
    if not isinstance(slug, str) or not SLUG_PATTERN.match(slug):
        raise ConfigError(f"{where}: needs a slug made of letters, digits, - and _")
    return slug


def _check_source(item: Any, where: str) -> dict:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: must be an object")
    _require_slug(item, where=where)
    if not isinstance(item.get("kind"), str) or not item["kind"]:
        raise ConfigError(f"{where}: needs a kind such as \"github\", \"bugzilla\", \"sumo\" or \"manual\"")
    if "options" in item and not isinstance(item["options"], dict):
        raise ConfigError(f"{where}: options must be an object")
    if "schedule_minutes" in item and (not isinstance(item["schedule_minutes"], int) or item["schedule_minutes"] < 0):
        raise ConfigError(f"{where}: schedule_minutes must be a whole number of minutes, 0 or more")
    unknown = sorted(set(item) - {"slug", *SOURCE_FIELDS})
    if unknown:
        raise ConfigError(f"{where}: unknown field {', '.join(unknown)}")
    problem = token_env_problem(item.get("token_env", "")) or base_url_problem(item.get("base_url", ""))
    if problem:
        raise ConfigError(f"{where}: {problem}")
    return item


def _check_conversion_point(item: Any, where: str, known_sources: set[str]) -> dict:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: must be an object")
    _require_slug(item, where=where)
    if item.get("source") not in known_sources:
        raise ConfigError(f"{where}: unknown source {item.get('source')!r}; list it under \"sources\" or configure it first")
    types = item.get("types")
    if not isinstance(types, list) or not types or not all(isinstance(t, str) and is_activity_type(t) for t in types):
        raise ConfigError(f"{where}: types must be a list of activity types such as \"sumo.answer.posted\"")
    if item.get("level", "active") not in LEVELS:
        raise ConfigError(f"{where}: level must be one of casual, active, core")
    if not _translations(item.get("name"), where=f"{where}.name"):
        raise ConfigError(f"{where}: needs a name")
    return item


@transaction.atomic
def config_load(*, config: dict) -> dict[str, int]:
    """Create or update sources, areas and conversion points from a configuration (upsert by slug).

    Nothing is deleted: something missing from the file stays as it is. The whole file loads or,
    on the first error, nothing does.
    """
    if not isinstance(config, dict):
        raise ConfigError("the configuration must be a JSON object with \"sources\" and \"areas\"")
    counts = {"sources": 0, "areas": 0, "conversion_points": 0}
    sources = config.get("sources", [])
    areas = config.get("areas", [])
    if not isinstance(sources, list) or not isinstance(areas, list):
        raise ConfigError("\"sources\" and \"areas\" must be lists")

    for index, item in enumerate(sources):
        item = _check_source(item, f"sources[{index}]")
        before = source_connection_before(slug=item["slug"])
        source, _created = Source.objects.update_or_create(
            slug=item["slug"], defaults={field: item[field] for field in SOURCE_FIELDS if field in item}
        )
        source_connection_audit(source=source, before=before, by=None, via=SourceConnectionChange.Via.CONFIG)
        counts["sources"] += 1
    known_sources = {source.slug: source for source in Source.objects.all()}

    for index, item in enumerate(areas):
        where = f"areas[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: must be an object")
        slug = _require_slug(item, where=where)
        names = _translations(item.get("name"), where=f"{where}.name")
        if not names:
            raise ConfigError(f"{where}: needs a name")
        target = item.get("target")
        if target is not None and (not isinstance(target, int) or isinstance(target, bool) or target < 0):
            raise ConfigError(f"{where}: target must be a whole number, 0 or more")
        area = Area.objects.filter(slug=slug).first() or Area(slug=slug)
        _set_translations(area, "name", names)
        _set_translations(area, "description", _translations(item.get("description"), where=f"{where}.description"))
        area.target = target
        if "position" in item:
            area.position = item["position"]
        area.save()
        counts["areas"] += 1

        points = item.get("conversion_points", [])
        if not isinstance(points, list):
            raise ConfigError(f"{where}.conversion_points must be a list")
        for point_index, point in enumerate(points):
            point_where = f"{where}.conversion_points[{point_index}]"
            point = _check_conversion_point(point, point_where, set(known_sources))
            conversion_point = ConversionPoint.objects.filter(slug=point["slug"]).first() or ConversionPoint(slug=point["slug"])
            conversion_point.area = area
            conversion_point.source = known_sources[point["source"]]
            conversion_point.types = point["types"]
            conversion_point.container = point.get("container") or "*"
            conversion_point.level = point.get("level", ConversionPoint.Level.ACTIVE)
            conversion_point.next_step_url = point.get("next_step_url", "")
            conversion_point.enabled = point.get("enabled", True)
            for field in TRANSLATED_FIELDS["conversion_point"]:
                _set_translations(conversion_point, field, _translations(point.get(field), where=f"{point_where}.{field}"))
            conversion_point.save()
            counts["conversion_points"] += 1
    if counts["areas"] or counts["conversion_points"]:
        from .metrics import metrics_recompute_soon  # metrics imports the models this module loads

        metrics_recompute_soon()
    return counts


def config_dump() -> dict[str, list]:
    """The whole configuration in the file format; loading it gives back the same state."""
    sources = [
        {"slug": source.slug, **{field: getattr(source, field) for field in SOURCE_FIELDS}}
        for source in Source.objects.order_by("slug")
    ]
    areas = []
    for area in Area.objects.prefetch_related("conversion_points__source").order_by("position", "slug"):
        entry: dict[str, Any] = {"slug": area.slug, "name": _get_translations(area, "name")}
        if description := _get_translations(area, "description"):
            entry["description"] = description
        entry["target"] = area.target
        entry["position"] = area.position
        entry["conversion_points"] = []
        for point in sorted(area.conversion_points.all(), key=lambda p: p.slug):
            point_entry: dict[str, Any] = {
                "slug": point.slug,
                "source": point.source.slug,
                "types": point.types,
                "container": point.container or "*",
                "level": point.level,
                "enabled": point.enabled,
            }
            for field in TRANSLATED_FIELDS["conversion_point"]:
                if texts := _get_translations(point, field):
                    point_entry[field] = texts
            if point.next_step_url:
                point_entry["next_step_url"] = point.next_step_url
            entry["conversion_points"].append(point_entry)
        areas.append(entry)
    return {"sources": sources, "areas": areas}
