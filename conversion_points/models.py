"""The "what counts": areas (teams) and the conversion points that turn activities into contributions."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from baloo_site.fields import HttpsURLField

from .containers import container_matches


class Area(models.Model):
    """A team or contribution area (Support, Coding Firefox, Localization…), with an optional target."""

    slug = models.SlugField(_("slug"), max_length=100, unique=True, help_text=_("Short name used in URLs and the API, e.g. “support”."))
    name = models.CharField(_("name"), max_length=200, help_text=_("What the area is called, in each language."))
    description = models.TextField(_("description"), blank=True, help_text=_("One or two sentences on what contributing here means."))
    target = models.PositiveIntegerField(
        _("target"), null=True, blank=True, help_text=_("The goal line: how many active contributors this area hopes for.")
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


# Levels in order: a person's level in an area is the highest of the points they reached there.
LEVEL_RANK = {ConversionPoint.Level.CASUAL: 0, ConversionPoint.Level.ACTIVE: 1, ConversionPoint.Level.CORE: 2}


class MetricRun(models.Model):
    """One recompute of every metric series. The API reads the latest complete run only.

    A run is written in full while `running`, then swapped in (marked `complete`) in one
    transaction, so a crashed recompute leaves the previous snapshots in place. A partitioned run
    is written by several tasks, one part each, and swapped in when the last part is written. A `queued` run is a
    recompute asked for and not started yet: at most one exists, so many requests give one recompute.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        COMPLETE = "complete", _("complete")
        FAILED = "failed", _("failed")

    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.RUNNING)
    requested_at = models.DateTimeField(_("requested"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    latest_week = models.DateField(_("latest week"), null=True, blank=True, help_text=_("The Sunday of the latest computed week."))
    contributors_ever = models.PositiveIntegerField(
        _("contributors ever (volunteers)"), default=0, help_text=_("Distinct volunteers, not bots, with any contribution ever.")
    )
    contributors_ever_everyone = models.PositiveIntegerField(
        _("contributors ever (staff included)"), default=0, help_text=_("Distinct people, not bots, with any contribution ever.")
    )
    stats = models.JSONField(_("statistics"), default=dict, blank=True, help_text=_("Timings and sizes of the recompute."))
    error = models.TextField(_("error"), blank=True)
    cache_key = models.CharField(
        _("cache key"),
        max_length=32,
        blank=True,
        editable=False,
        help_text=_("Names the saved counting state this run left for the next incremental update."),
    )
    # A partitioned recompute (see `metrics_recompute_partitioned`): its plan and the parts written so far.
    parts = models.PositiveSmallIntegerField(
        _("parts"), default=0, editable=False, help_text=_("How many tasks share this run's work (0: one task).")
    )
    plan = models.JSONField(
        _("plan"), default=dict, blank=True, editable=False, help_text=_("What every part of the run counts, and up to which activity.")
    )
    parts_done = models.JSONField(
        _("parts written"), default=list, blank=True, editable=False, help_text=_("The parts whose points are written.")
    )
    # The public summary as of the day the run counted (`conversion_points.as_of`): readers take it
    # from here while that day is today, so no request counts it.
    as_of = models.JSONField(
        _("summary as of its day"),
        default=dict,
        blank=True,
        editable=False,
        help_text=_("Active, new and contributors ever as of the day this run was counted, for the public summary."),
    )

    class Meta:
        ordering = ["-id"]
        verbose_name = _("metric run")
        verbose_name_plural = _("metric runs")
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=models.Q(status="queued"), name="metric_run_one_queued")
        ]

    def __str__(self) -> str:
        return f"Metric run #{self.pk} ({self.status})"


class Population(models.TextChoices):
    """Who is counted: volunteers only (the default everywhere) or everyone (staff included). Bots never."""

    VOLUNTEERS = "volunteers", _("volunteers")
    EVERYONE = "everyone", _("staff included")


class MetricPoint(models.Model):
    """One weekly point of one scope's series, dated on the week's Sunday (UTC).

    `scope` is `all`, `area:<slug>`, `source:<slug>` or `cp:<slug>`. The level counts (people by the
    highest level they reached in the window) are kept for `all` and areas.
    """

    run = models.ForeignKey(MetricRun, verbose_name=_("run"), on_delete=models.CASCADE, related_name="points")
    scope = models.CharField(_("scope"), max_length=120)
    population = models.CharField(_("population"), max_length=10, choices=Population.choices)
    date = models.DateField(_("week ending"))
    active = models.PositiveIntegerField(_("active"))
    new = models.PositiveIntegerField(_("new"))
    lapsed = models.PositiveIntegerField(_("lapsed"))
    level_casual = models.PositiveIntegerField(_("casual level"), null=True, blank=True)
    level_active = models.PositiveIntegerField(_("active level"), null=True, blank=True)
    level_core = models.PositiveIntegerField(_("core level"), null=True, blank=True)

    class Meta:
        ordering = ["run", "scope", "population", "date"]
        verbose_name = _("metric point")
        verbose_name_plural = _("metric points")
        constraints = [
            models.UniqueConstraint(fields=["run", "scope", "population", "date"], name="metric_point_unique"),
        ]
        indexes = [models.Index(fields=["run", "population", "date"], name="metric_point_date_idx")]

    def __str__(self) -> str:
        return f"{self.scope} {self.date}: {self.active}"


class Overlap(models.Model):
    """How many active contributors two areas share in the run's latest week (area_a < area_b by slug)."""

    run = models.ForeignKey(MetricRun, verbose_name=_("run"), on_delete=models.CASCADE, related_name="overlaps")
    population = models.CharField(_("population"), max_length=10, choices=Population.choices)
    area_a = models.CharField(_("area"), max_length=100)
    area_b = models.CharField(_("other area"), max_length=100)
    shared = models.PositiveIntegerField(_("shared active contributors"))

    class Meta:
        ordering = ["run", "population", "area_a", "area_b"]
        verbose_name = _("area overlap")
        verbose_name_plural = _("area overlaps")

    def __str__(self) -> str:
        return f"{self.area_a} ∩ {self.area_b}: {self.shared}"


class AreaMovement(models.Model):
    """Where the people who lapsed from an area in the last 12 months are now, at the run's latest week.

    `lapsed`: lapsed from the area on one of the 52 Sundays ending the latest week, and not active there
    again; `moved`: of those, active in another area now; `left`: active nowhere now.
    """

    run = models.ForeignKey(MetricRun, verbose_name=_("run"), on_delete=models.CASCADE, related_name="movements")
    population = models.CharField(_("population"), max_length=10, choices=Population.choices)
    area = models.CharField(_("area"), max_length=100)
    lapsed = models.PositiveIntegerField(_("lapsed"))
    moved = models.PositiveIntegerField(_("moved to another area"))
    left = models.PositiveIntegerField(_("left"))

    class Meta:
        ordering = ["run", "population", "area"]
        verbose_name = _("area movement")
        verbose_name_plural = _("area movements")

    def __str__(self) -> str:
        return f"{self.area}: {self.moved} moved, {self.left} left"
