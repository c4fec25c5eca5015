"""The "what counts": areas (teams) and the conversion points that turn activities into contributions."""

from fnmatch import fnmatchcase

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class HttpsURLField(models.URLField):
    """A URL field whose form assumes https:// when the scheme is left out (Django 6's default)."""

    def formfield(self, **kwargs):
        return super().formfield(**{"assume_scheme": "https", **kwargs})


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
    position = models.PositiveIntegerField(_("position"), default=0, help_text=_("Order on the dashboard, smallest first."))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["position", "slug"]
        verbose_name = _("area")
        verbose_name_plural = _("areas")

    def __str__(self) -> str:
        return self.name


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
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["area", "slug"]
        verbose_name = _("conversion point")
        verbose_name_plural = _("conversion points")

    def __str__(self) -> str:
        return self.name

    def matches_container(self, container: str) -> bool:
        pattern = self.container or "*"
        return pattern == "*" or fnmatchcase(container, pattern)
