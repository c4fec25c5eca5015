"""The "what counts": areas (teams) and the conversion points that turn activities into contributions."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from baloo_site.fields import HttpsURLField

from .campaigns import campaign_dates_problem
from .containers import container_matches


class Area(models.Model):
    """A team or contribution area (Support, Coding Firefox, Localization…), with an optional target."""

    slug = models.SlugField(_("slug"), max_length=100, unique=True, help_text=_("Short name used in URLs and the API, e.g. “support”."))
    name = models.CharField(_("name"), max_length=200, help_text=_("What the area is called, in each language."))
    description = models.TextField(_("description"), blank=True, help_text=_("One or two sentences on what contributing here means."))
    target = models.PositiveIntegerField(
        _("target"), null=True, blank=True, help_text=_("The goal line: how many active contributors this area hopes for.")
    )
    target_date = models.DateField(
        _("target date"),
        null=True,
        blank=True,
        help_text=_(
            "Optional: the day the area hopes to reach its target. The dashboard then says how many new contributors "
            "a week it needs from now, and whether the last 12 weeks' pace is enough. A day that has passed is kept and "
            "shown as passed."
        ),
    )
    owners = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owners"),
        blank=True,
        related_name="owned_areas",
        help_text=_("Community builders who may edit this area's conversion points and see its contributors."),
    )
    sources = models.ManyToManyField(
        "activities.Source",
        verbose_name=_("sources"),
        blank=True,
        related_name="areas",
        help_text=_(
            "The systems this area's conversion points may draw on. Staff decide: the area's community builders "
            "see the contributors of these sources that their rules find, and no one else."
        ),
    )
    position = models.PositiveIntegerField(_("position"), default=0, help_text=_("Order on the dashboard, smallest first."))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["position", "slug"]
        verbose_name = _("area")
        verbose_name_plural = _("areas")

    def __str__(self) -> str:
        return self.name


def conversion_point_definition(*, area_id: int | None, source_id: int | None, types: object, container: str, level: str, enabled: bool) -> dict:
    """A conversion point's rule as plain JSON: what staff approve, compared as a whole (the data migration uses it too)."""
    listed = sorted({str(t) for t in types}) if isinstance(types, list) else repr(types)
    return {"area": area_id, "source": source_id, "types": listed, "container": container or "*", "level": level, "enabled": bool(enabled)}


class ConversionPointQuerySet(models.QuerySet):
    def over_area_sources(self) -> "ConversionPointQuerySet":
        """The points whose source is one of their area's sources: the only ones that may show anyone's record."""
        return self.filter(area__sources=models.F("source"))

    def approved(self) -> "ConversionPointQuerySet":
        """The points whose rule is exactly what staff approved: the only ones that show a builder anyone's record.

        Compared in Python, column by column, so no way of changing a rule (a form, a bulk update, a
        script) can keep an approval that was given to another rule. Areas hold few points.
        """
        return self.filter(pk__in=[point.pk for point in self.select_related(None) if point.is_approved])

    def awaiting_approval(self) -> "ConversionPointQuerySet":
        """The points changed (or created) since staff last approved them."""
        return self.exclude(pk__in=self.approved().values("pk"))


class ConversionPoint(models.Model):
    """A rule inside an area: activities of these types, in this source and container, are contributions.

    The level says how much the contribution means: counts of *active contributors* use the
    active and core levels; casual contributions are recognised but not counted as active.
    """

    class Level(models.TextChoices):
        CASUAL = "casual", _("casual")
        ACTIVE = "active", _("active")
        CORE = "core", _("core")

    area = models.ForeignKey(Area, verbose_name=_("area"), on_delete=models.CASCADE, related_name="conversion_points")
    slug = models.SlugField(_("slug"), max_length=100, unique=True, help_text=_("Short name used in the API, e.g. “sumo-answer”."))
    source = models.ForeignKey(
        "activities.Source",
        verbose_name=_("source"),
        on_delete=models.PROTECT,
        related_name="conversion_points",
        help_text=_("The system where the activity happens."),
    )
    types = models.JSONField(
        _("activity types"),
        default=list,
        help_text=_("Which activity types count, e.g. [\"sumo.answer.posted\"]. An activity of any of them matches."),
    )
    container = models.CharField(
        _("container filter"),
        max_length=255,
        default="*",
        blank=True,
        help_text=_("Only activities in matching containers count. A glob: “mozilla/*”, “Firefox::*”. Empty or “*” means any."),
    )
    level = models.CharField(_("level"), max_length=10, choices=Level.choices, default=Level.ACTIVE)
    name = models.CharField(_("name"), max_length=200, help_text=_("The rule in a few plain words, e.g. “Answered a question”."))
    description = models.TextField(_("description"), blank=True, help_text=_("What exactly counts and why it matters."))
    recognition = models.TextField(
        _("recognition text"), blank=True, help_text=_("What we say to thank someone who did this, shown on their record.")
    )
    next_step_url = HttpsURLField(
        _("next step link"), blank=True, max_length=500, help_text=_("Where someone who did this can go next to grow.")
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    # What staff approved (see `definition`): until the rule is exactly that again, its contributors stay out
    # of its area's builders' lists. Public counting never looks at it.
    approved_definition = models.JSONField(
        _("approved rule"),
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "The rule as staff last approved it (area, source, types, container, level, enabled). Community builders' "
            "lists of people show its contributors only while the rule is exactly this; the public counts never wait for it."
        ),
    )
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True, editable=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("approved by"),
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Empty for rules approved by the operator (load_config) or by the upgrade that introduced approval."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = ConversionPointQuerySet.as_manager()

    class Meta:
        ordering = ["area", "slug"]
        verbose_name = _("conversion point")
        verbose_name_plural = _("conversion points")

    def __str__(self) -> str:
        return self.name

    def definition(self) -> dict:
        """Everything about the rule that decides whose activities it matches, and so whose records it shows."""
        return conversion_point_definition(
            area_id=self.area_id, source_id=self.source_id, types=self.types, container=self.container, level=self.level, enabled=self.enabled
        )

    @property
    def is_approved(self) -> bool:
        return self.approved_definition is not None and self.approved_definition == self.definition()

    def matches_container(self, container: str) -> bool:
        return container_matches(self.container, container)


class Campaign(models.Model):
    """A named push for new contributors in some areas, between two days: drawn on their charts, and
    its new contributors compared with the 12 weeks before (`metrics.campaigns`)."""

    slug = models.SlugField(_("slug"), max_length=100, unique=True, help_text=_("Short name used in the API, e.g. “spring-l10n-sprint”."))
    name = models.CharField(_("name"), max_length=200, help_text=_("What the campaign is called, in each language."))
    description = models.TextField(_("description"), blank=True, help_text=_("One or two sentences on what the campaign asks of people."))
    start = models.DateField(_("first day"), help_text=_("The campaign's first day (UTC)."))
    end = models.DateField(_("last day"), help_text=_("The campaign's last day (UTC), at most a year after its first."))
    areas = models.ManyToManyField(
        Area,
        verbose_name=_("areas"),
        related_name="campaigns",
        help_text=_("The areas the campaign is for: it is drawn on their charts and its effect counted in each."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["start", "slug"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        constraints = [models.CheckConstraint(condition=models.Q(end__gte=models.F("start")), name="campaign_ends_after_it_starts")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.start and self.end and (problem := campaign_dates_problem(start=self.start, end=self.end)):
            raise ValidationError({"end": problem})


class Population(models.TextChoices):
    """Who is counted: volunteers only (the default everywhere) or everyone (staff included). Bots never."""

    VOLUNTEERS = "volunteers", _("volunteers")
    EVERYONE = "everyone", _("staff included")
