"""Writes about areas and conversion points, and configuration as code (sources, areas, rules).

The file format is the public contract in docs/contracts.md: loading is an upsert by slug, and
dumping gives back a file that loads to the same state.
"""

import math
import re
from collections.abc import Collection, Iterable
from datetime import date
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from activities.connections import source_connection_audit, source_connection_before
from activities.models import Source, SourceConnectionChange
from activities.validators import base_url_problem, is_activity_type, token_env_problem

from .campaigns import campaign_dates_problem
from .models import Area, Campaign, ConversionPoint
from .signals import rules_changed

LANGUAGE_CODES = [code for code, _name in settings.LANGUAGES]
TRANSLATED_FIELDS = {
    "area": ("name", "description"),
    "conversion_point": ("name", "description", "recognition"),
    "campaign": ("name", "description"),
}
SOURCE_FIELDS = (
    "kind", "name", "base_url", "options", "token_env", "schedule_minutes", "account_namespace", "enabled", "links_accounts",
)
LEVELS = {level.value for level in ConversionPoint.Level}
SLUG_PATTERN = re.compile(r"[-a-zA-Z0-9_]+")
SLUG_MAX_LENGTH = 100  # the slug columns of sources, areas and conversion points
# The fields each part of the file may have: anything else is refused, naming it, so that a typo
# ("next_step_link") or a field of another version is never silently ignored.
CONFIG_FIELDS = ("sources", "areas", "campaigns")
AREA_FIELDS = ("slug", "name", "description", "target", "target_date", "position", "sources", "conversion_points")
CAMPAIGN_FIELDS = ("slug", "name", "description", "start", "end", "areas")
CONVERSION_POINT_FIELDS = (
    "slug", "source", "types", "container", "level", "enabled", "name", "description", "recognition", "next_step_url"
)
# Deep enough for any option a connector reads; deeper is a mistake, or an attempt to exhaust the loader.
MAX_DEPTH = 20
LARGEST_NUMBER = 2**31 - 1  # the database's integer columns (targets, positions, schedules)


class ConfigError(ValueError):
    """A configuration file that cannot be loaded; the message says where and why."""


def conversion_point_source_check(*, area: Area, source: Source, granted: Collection[Source] | None = None) -> None:
    """Refuse a conversion point over a source its area may not draw on.

    Staff decide which sources an area may draw on (`Area.sources`): a rule is how an area's community
    builders see contributors, so a rule over any other source would show them that source's people.
    `granted` is the area's sources when they change in the same form as the rule; else the stored ones.
    """
    allowed = list(granted) if granted is not None else list(area.sources.all()) if area.pk else []
    if source.pk in {other.pk for other in allowed}:
        return
    if not allowed:
        raise ValidationError(
            _(
                "This area may not draw on any source yet, so it cannot count activities from “%(source)s”. "
                "Staff decide which sources an area may draw on: ask them to add this one to the area."
            ),
            code="source-not-granted",
            params={"source": source.name or source.slug},
        )
    raise ValidationError(
        _(
            "This area may not draw on “%(source)s”: its conversion points can use %(allowed)s. "
            "Staff decide which sources an area may draw on: ask them if this one should be added."
        ),
        code="source-not-granted",
        params={"source": source.name or source.slug, "allowed": ", ".join(f"“{other.name or other.slug}”" for other in allowed)},
    )


def conversion_points_approve(*, points: Iterable[ConversionPoint], by: Any | None) -> list[ConversionPoint]:
    """Approve these conversion points as they are now: their contributors may appear in their area's builders' lists.

    Only staff, administrators (`by`) and the operator (`by=None`: load_config) approve. A builder's rule is
    unapproved until then, and becomes so again whenever its area, source, types, container, level or
    enabling changes (`ConversionPoint.is_approved`). Public counting never waits for approval. Returns
    the points whose approval changed.
    """
    approved = []
    now = timezone.now()
    for point in points:
        if point.is_approved:
            continue
        point.approved_definition = point.definition()
        point.approved_at = now
        point.approved_by = by
        point.save(update_fields=["approved_definition", "approved_at", "approved_by"])
        approved.append(point)
    return approved


def _area_sources(value: Any, *, where: str, known_sources: dict[str, Source]) -> list[Source]:
    if not isinstance(value, list) or not all(isinstance(slug, str) for slug in value):
        raise ConfigError(f"{where}: give a list of source slugs such as [\"sumo\"]")
    unknown = [slug for slug in value if slug not in known_sources]
    if unknown:
        raise ConfigError(f"{where}: unknown source {unknown[0]!r}; list it under \"sources\" or configure it first")
    return [known_sources[slug] for slug in value]


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


def _set_translations(obj: Area | ConversionPoint | Campaign, field: str, texts: dict[str, str]) -> None:
    for code in LANGUAGE_CODES:
        setattr(obj, f"{field}_{code.replace('-', '_')}", texts.get(code, ""))


def _get_translations(obj: Area | ConversionPoint | Campaign, field: str) -> dict[str, str]:
    texts = {}
    for code in LANGUAGE_CODES:
        text = getattr(obj, f"{field}_{code.replace('-', '_')}", None)
        if text:
            texts[code] = text
    return texts


def _require_slug(item: dict, *, where: str) -> str:
    slug = item.get("slug")
    if not isinstance(slug, str) or not SLUG_PATTERN.fullmatch(slug) or len(slug) > SLUG_MAX_LENGTH:
        raise ConfigError(f"{where}: needs a slug of at most {SLUG_MAX_LENGTH} letters, digits, - and _")
    return slug


def _check_values(config: Any) -> None:
    """Every value the file holds can be stored: no NUL character (no database text holds one), no
    lone surrogate (`\ud800` is valid JSON but no UTF-8 text), no NaN or infinite number (JSON
    columns refuse them), and no nesting deeper than MAX_DEPTH. Walked without recursion, so a deep
    file is refused, naming where, before anything reads it."""
    stack = [(config, "the configuration", 1)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConfigError(f"{where}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, str) and "\x00" in value:
            raise ConfigError(f"{where}: contains a NUL character")
        if isinstance(value, str) and not _encodable(value):
            raise ConfigError(f"{where}: contains a lone surrogate (a \\ud800-\\udfff escape without its pair)")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where}: must be a finite number")
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and "\x00" in key:
                    raise ConfigError(f"{where}: a field name contains a NUL character")
                if isinstance(key, str) and not _encodable(key):
                    raise ConfigError(f"{where}: a field name contains a lone surrogate")
                stack.append((item, f"{where}.{key}" if depth > 1 else key, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{index}]", depth + 1) for index, item in enumerate(value))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_fields(item: dict, allowed: tuple[str, ...], *, where: str) -> None:
    unknown = sorted(set(item) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown field {', '.join(unknown)} (known: {', '.join(allowed)})")


def _check_text(item: dict, field: str, model: type[models.Model], *, where: str) -> None:
    """`item[field]`, when given, is a text the model's column takes: its length and form (slug, URL)."""
    if field not in item:
        return
    if not isinstance(item[field], str):
        raise ConfigError(f"{where}.{field}: must be a text")
    try:
        model._meta.get_field(field).run_validators(item[field])
    except ValidationError as error:
        raise ConfigError(f"{where}.{field}: {' '.join(error.messages)}") from None


def _check_whole_number(item: dict, field: str, *, where: str, what: str = "", nullable: bool = False) -> None:
    if field not in item or (nullable and item[field] is None):
        return
    value = item[field]
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= LARGEST_NUMBER:
        raise ConfigError(f"{where}: {field} must be a whole number{what}, from 0 to {LARGEST_NUMBER}")


def _day(item: dict, field: str, *, where: str) -> date | None:
    """`item[field]` as a day written YYYY-MM-DD (None when absent or null), from 1970 to 2999."""
    value = item.get(field)
    if value is None:
        return None
    try:
        day = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        day = None
    if day is None or not date(1970, 1, 1) <= day <= date(2999, 12, 31):
        raise ConfigError(f"{where}.{field}: must be a day written YYYY-MM-DD, from 1970 to 2999")
    return day


def _check_flag(item: dict, field: str, *, where: str) -> None:
    if field in item and not isinstance(item[field], bool):
        raise ConfigError(f"{where}: {field} must be true or false")


def _check_config(config: Any) -> None:
    if not isinstance(config, dict):
        raise ConfigError("the configuration must be a JSON object with \"sources\" and \"areas\"")
    unknown = sorted(set(config) - set(CONFIG_FIELDS))
    if unknown:
        raise ConfigError(f"unknown top-level field {', '.join(unknown)} (known: {', '.join(CONFIG_FIELDS)})")
    _check_values(config)


def _check_texts(item: dict, model: type[models.Model], fields: tuple[str, ...], *, where: str) -> None:
    for field in fields:
        for language, text in _translations(item.get(field), where=f"{where}.{field}").items():
            try:
                model._meta.get_field(field).run_validators(text)
            except ValidationError as error:
                raise ConfigError(f"{where}.{field} ({language}): {' '.join(error.messages)}") from None


def _check_area(item: Any, where: str) -> dict:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: must be an object")
    _check_fields(item, AREA_FIELDS, where=where)
    _check_texts(item, Area, TRANSLATED_FIELDS["area"], where=where)
    _check_whole_number(item, "position", where=where)
    return item


def _check_source(item: Any, where: str) -> dict:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: must be an object")
    _require_slug(item, where=where)
    if not isinstance(item.get("kind"), str) or not item["kind"]:
        raise ConfigError(f"{where}: needs a kind such as \"github\", \"bugzilla\", \"sumo\" or \"manual\"")
    if "options" in item and not isinstance(item["options"], dict):
        raise ConfigError(f"{where}: options must be an object")
    _check_whole_number(item, "schedule_minutes", where=where, what=" of minutes")
    _check_fields(item, ("slug", *SOURCE_FIELDS), where=where)
    for field in ("kind", "name", "base_url", "token_env", "account_namespace"):
        _check_text(item, field, Source, where=where)
    _check_flag(item, "enabled", where=where)
    _check_flag(item, "links_accounts", where=where)
    problem = token_env_problem(item.get("token_env", "")) or base_url_problem(item.get("base_url", ""))
    if problem:
        raise ConfigError(f"{where}: {problem}")
    return item


def _check_conversion_point(item: Any, where: str, known_sources: set[str]) -> dict:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: must be an object")
    _require_slug(item, where=where)
    if not isinstance(item.get("source"), str) or item["source"] not in known_sources:
        raise ConfigError(f"{where}: unknown source {item.get('source')!r}; list it under \"sources\" or configure it first")
    types = item.get("types")
    if not isinstance(types, list) or not types or not all(isinstance(t, str) and is_activity_type(t) for t in types):
        raise ConfigError(f"{where}: types must be a list of activity types such as \"sumo.answer.posted\"")
    if not isinstance(item.get("level", "active"), str) or item.get("level", "active") not in LEVELS:
        raise ConfigError(f"{where}: level must be one of casual, active, core")
    if not _translations(item.get("name"), where=f"{where}.name"):
        raise ConfigError(f"{where}: needs a name")
    _check_fields(item, CONVERSION_POINT_FIELDS, where=where)
    _check_texts(item, ConversionPoint, TRANSLATED_FIELDS["conversion_point"], where=where)
    _check_text(item, "container", ConversionPoint, where=where)
    _check_flag(item, "enabled", where=where)
    # Shown as a link on public pages: an http(s) address only, never javascript: or data:.
    url = item.get("next_step_url")
    if url is not None and (not isinstance(url, str) or (url and not url.lower().startswith(("http://", "https://")))):
        raise ConfigError(f"{where}.next_step_url: must be an http:// or https:// address")
    _check_text(item, "next_step_url", ConversionPoint, where=where)
    return item


@transaction.atomic
def config_load(*, config: dict) -> dict[str, int]:
    """Create or update sources, areas and conversion points from a configuration (upsert by slug).

    Nothing is deleted: something missing from the file stays as it is. The whole file loads or,
    on the first error, nothing does. An area's `sources` are the sources it may draw on: given,
    they are exactly those, and every conversion point of the area must use one of them; left out,
    the area may draw at least on the sources its conversion points name.
    """
    _check_config(config)
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
    loaded_areas: dict[int, int] = {}  # area id → its index in the file
    loaded_points: dict[int, ConversionPoint] = {}  # id → the point as last loaded (a file may name one twice)

    for index, item in enumerate(areas):
        where = f"areas[{index}]"
        item = _check_area(item, where)
        slug = _require_slug(item, where=where)
        names = _translations(item.get("name"), where=f"{where}.name")
        if not names:
            raise ConfigError(f"{where}: needs a name")
        target = item.get("target")
        _check_whole_number(item, "target", where=where, nullable=True)
        area = Area.objects.filter(slug=slug).first() or Area(slug=slug)
        _set_translations(area, "name", names)
        _set_translations(area, "description", _translations(item.get("description"), where=f"{where}.description"))
        area.target = target
        area.target_date = _day(item, "target_date", where=where)
        if "position" in item:
            area.position = item["position"]
        area.save()
        loaded_areas[area.pk] = index
        if "sources" in item:
            area.sources.set(_area_sources(item["sources"], where=f"{where}.sources", known_sources=known_sources))
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
            loaded_points[conversion_point.pk] = conversion_point
            counts["conversion_points"] += 1
        if "sources" not in item:
            area.sources.add(*{known_sources[point["source"]] for point in points})
    _check_points_over_area_sources(loaded_areas)
    counts["campaigns"] = _campaigns_load(config.get("campaigns", []))
    # The operator wrote the file: its rules are approved as they are.
    conversion_points_approve(points=loaded_points.values(), by=None)
    if counts["areas"] or counts["conversion_points"] or counts["campaigns"]:
        # Targets and campaigns change no count, but the dashboard draws each run once: a new run shows them.
        rules_changed.send(sender=Area)
    return counts


def _campaigns_load(campaigns: Any) -> int:
    """Create or update the file's campaigns (upsert by slug); their areas are exactly those listed."""
    if not isinstance(campaigns, list):
        raise ConfigError("\"campaigns\" must be a list")
    known_areas = {area.slug: area for area in Area.objects.all()}
    for index, item in enumerate(campaigns):
        where = f"campaigns[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: must be an object")
        _check_fields(item, CAMPAIGN_FIELDS, where=where)
        slug = _require_slug(item, where=where)
        names = _translations(item.get("name"), where=f"{where}.name")
        if not any(text.strip() for text in names.values()):
            raise ConfigError(f"{where}: needs a name")
        _check_texts(item, Campaign, TRANSLATED_FIELDS["campaign"], where=where)
        start, end = _day(item, "start", where=where), _day(item, "end", where=where)
        if start is None or end is None:
            raise ConfigError(f"{where}: needs a start and an end, days written YYYY-MM-DD")
        if problem := campaign_dates_problem(start=start, end=end):
            raise ConfigError(f"{where}: {problem}")
        areas = item.get("areas")
        if not isinstance(areas, list) or not areas or not all(isinstance(slug, str) for slug in areas):
            raise ConfigError(f"{where}.areas: give a list of one or more area slugs such as [\"support\"]")
        unknown = [area for area in areas if area not in known_areas]
        if unknown:
            raise ConfigError(f"{where}.areas: unknown area {unknown[0]!r}; list it under \"areas\" or configure it first")
        campaign = Campaign.objects.filter(slug=slug).first() or Campaign(slug=slug)
        _set_translations(campaign, "name", names)
        _set_translations(campaign, "description", _translations(item.get("description"), where=f"{where}.description"))
        campaign.start, campaign.end = start, end
        campaign.save()
        campaign.areas.set([known_areas[area] for area in areas])
    return len(campaigns)


def _check_points_over_area_sources(loaded_areas: dict[int, int]) -> None:
    """Checked once every area is loaded: a point may have moved from one area of the file to another."""
    stray = (
        ConversionPoint.objects.filter(area__in=list(loaded_areas))
        .exclude(pk__in=ConversionPoint.objects.over_area_sources().values("pk"))
        .select_related("area", "source")
        .order_by("area__position", "area__slug", "slug")
        .first()
    )
    if stray is not None:
        raise ConfigError(
            f"areas[{loaded_areas[stray.area_id]}]: conversion point {stray.slug!r} uses source {stray.source.slug!r}, "
            "which the area's \"sources\" do not list"
        )


def config_dump() -> dict[str, list]:
    """The whole configuration in the file format; loading it gives back the same state.

    Every area lists its `target_date` (null when none), and `campaigns` is always there (empty when none)."""
    sources = [
        {"slug": source.slug, **{field: getattr(source, field) for field in SOURCE_FIELDS}}
        for source in Source.objects.order_by("slug")
    ]
    areas = []
    for area in Area.objects.prefetch_related("conversion_points__source", "sources").order_by("position", "slug"):
        entry: dict[str, Any] = {"slug": area.slug, "name": _get_translations(area, "name")}
        if description := _get_translations(area, "description"):
            entry["description"] = description
        entry["target"] = area.target
        entry["target_date"] = area.target_date.isoformat() if area.target_date else None
        entry["position"] = area.position
        entry["sources"] = sorted(source.slug for source in area.sources.all())
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
    campaigns = []
    for campaign in Campaign.objects.prefetch_related("areas").order_by("start", "slug"):
        entry = {"slug": campaign.slug, "name": _get_translations(campaign, "name")}
        if description := _get_translations(campaign, "description"):
            entry["description"] = description
        entry["start"], entry["end"] = campaign.start.isoformat(), campaign.end.isoformat()
        entry["areas"] = sorted(area.slug for area in campaign.areas.all())
        campaigns.append(entry)
    return {"sources": sources, "areas": areas, "campaigns": campaigns}
