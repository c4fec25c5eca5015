"""The metric snapshots: each recompute's run, its weekly points per scope, area overlap and movement, cohorts.

The tables kept the names they had when these models lived in `conversion_points` (`db_table`):
moving them changed only which app holds them (a state-only migration).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from conversion_points.models import Population


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
    # The public summary as of the day the run counted (`metrics.engine.as_of`): readers take it
    # from here while that day is today, so no request counts it.
    as_of = models.JSONField(
        _("summary as of its day"),
        default=dict,
        blank=True,
        editable=False,
        help_text=_("Active, new and contributors ever as of the day this run was counted, for the public summary."),
    )

    class Meta:
        db_table = "conversion_points_metricrun"
        ordering = ["-id"]
        verbose_name = _("metric run")
        verbose_name_plural = _("metric runs")
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=models.Q(status="queued"), name="metric_run_one_queued")
        ]

    def __str__(self) -> str:
        return f"Metric run #{self.pk} ({self.status})"


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
        db_table = "conversion_points_metricpoint"
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
        db_table = "conversion_points_overlap"
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
        db_table = "conversion_points_areamovement"
        ordering = ["run", "population", "area"]
        verbose_name = _("area movement")
        verbose_name_plural = _("area movements")

    def __str__(self) -> str:
        return f"{self.area}: {self.moved} moved, {self.left} left"


class CohortTable(models.Model):
    """One scope's cohorts and retention for one population, as the public API gives them (CONTRACTS.md §5).

    `cohorts` is the list the API answers, oldest first: per calendar quarter (UTC) its `start`, its
    `size` (the persons whose first contribution in the scope falls in it), `retained` (how many of
    them contributed in the scope in each quarter from it to the latest) and `partial` (its quarter
    is not over). Stored whole, so a request reads one row (`metrics.engine.cohorts`).
    """

    run = models.ForeignKey(MetricRun, verbose_name=_("run"), on_delete=models.CASCADE, related_name="cohort_tables")
    scope = models.CharField(_("scope"), max_length=120)
    population = models.CharField(_("population"), max_length=10, choices=Population.choices)
    cohorts = models.JSONField(_("cohorts"), default=list)

    class Meta:
        ordering = ["run", "scope", "population"]
        verbose_name = _("cohort table")
        verbose_name_plural = _("cohort tables")
        constraints = [
            models.UniqueConstraint(fields=["run", "scope", "population"], name="cohort_table_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} ({self.population}): {len(self.cohorts)} quarters"


class Pathway(models.Model):
    """One entry point of an area at the run's latest week: who entered by it and what became of them.

    `conversion_point` is the entry point's slug, or empty for the area as a whole (each entrant
    once). The definitions are in docs/common-language.md ("Pathways"); the engine's stage is
    `metrics.engine.pathways`. Medians are whole weeks, or a half week for an even number of people.
    """

    run = models.ForeignKey(MetricRun, verbose_name=_("run"), on_delete=models.CASCADE, related_name="pathways")
    population = models.CharField(_("population"), max_length=10, choices=Population.choices)
    area = models.CharField(_("area"), max_length=100)
    conversion_point = models.CharField(_("entry point"), max_length=100, blank=True)
    level = models.CharField(_("level"), max_length=10, blank=True)
    entered = models.PositiveIntegerField(_("entered"))
    reached_active = models.PositiveIntegerField(_("reached active level"))
    median_weeks_to_active = models.FloatField(_("median weeks to active level"), null=True, blank=True)
    reached_core = models.PositiveIntegerField(_("reached core level"))
    median_weeks_to_core = models.FloatField(_("median weeks to core level"), null=True, blank=True)
    left = models.PositiveIntegerField(_("left"))
    left_to = models.JSONField(_("went to"), default=list, blank=True, help_text=_("[{area, count}], most first."))
    left_nowhere = models.PositiveIntegerField(_("went nowhere"))

    class Meta:
        ordering = ["run", "population", "area", "conversion_point"]
        verbose_name = _("pathway")
        verbose_name_plural = _("pathways")
        constraints = [
            models.UniqueConstraint(
                fields=["run", "population", "area", "conversion_point"], name="metric_pathway_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.area} {self.conversion_point or '*'}: {self.entered} entered"


class MetricPart(models.Model):
    """One part's partial result in a partitioned recompute: its share of the persons, counted.

    Written once per (run, part), replaced when a redelivered part counts again, read and summed by
    the step that swaps the run in, then deleted with it (`metrics.engine.partitioned`).
    """

    run = models.ForeignKey(MetricRun, verbose_name=_("run"), on_delete=models.CASCADE, related_name="partials")
    part = models.CharField(_("part"), max_length=40)
    partial = models.JSONField(_("partial result"), default=dict)
    stats = models.JSONField(_("statistics"), default=dict, blank=True)
    written_at = models.DateTimeField(_("written"), auto_now=True)

    class Meta:
        ordering = ["run", "part"]
        verbose_name = _("metric run part")
        verbose_name_plural = _("metric run parts")
        constraints = [models.UniqueConstraint(fields=["run", "part"], name="metric_part_unique")]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.part}"


class EditCount(models.Model):
    """How often stored activities and identities changed in ways a larger id does not show, counted by the database.

    Triggers (migration 0005) add one when activities are deleted or changed in place (their identity,
    source, type, date or container), and when an identity moves to another person or is deleted. The
    incremental update (`metrics.engine.cache`) compares these numbers with those its cache saw:
    equal, and every cached row and identity still holds; different, and it counts in full (activities)
    or reads every identity again (identities). One row, written by the triggers only.
    """

    activities = models.BigIntegerField(_("activities deleted or changed"), default=0)
    identities = models.BigIntegerField(_("identities moved or deleted"), default=0)

    class Meta:
        verbose_name = _("edit count")
        verbose_name_plural = _("edit counts")

    def __str__(self) -> str:
        return f"{self.activities}/{self.identities}"
