"""Shapes of the public metrics API (CONTRACTS.md §5), for validation and the OpenAPI schema."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from .selectors import SCOPE_PATTERN


class SummaryQuerySerializer(serializers.Serializer):
    date = serializers.DateField(
        required=False,
        help_text=_(
            "The numbers as of this day: active in the 365 days ending it, new in the 7 days ending it. "
            "Default: today. Never a day that has not happened."
        ),
    )
    staff = serializers.ChoiceField(choices=["include"], required=False, help_text=_("“include” counts staff too."))


class SeriesQuerySerializer(serializers.Serializer):
    scope = serializers.RegexField(
        SCOPE_PATTERN,
        required=False,
        default="all",
        help_text=_("all, area:SLUG, source:SLUG or cp:SLUG"),
        error_messages={"invalid": _("Give a scope as all, area:SLUG, source:SLUG or cp:SLUG.")},
    )
    start = serializers.DateField(required=False, help_text=_("First week to include (YYYY-MM-DD)."))
    end = serializers.DateField(required=False, help_text=_("Last week to include (YYYY-MM-DD)."))
    staff = serializers.ChoiceField(choices=["include"], required=False, help_text=_("“include” counts staff too."))

    def validate(self, attrs: dict) -> dict:
        if attrs.get("start") and attrs.get("end") and attrs["start"] > attrs["end"]:
            raise serializers.ValidationError({"end": _("The end comes before the start.")})
        return attrs


class GoalPlanSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["no_date", "passed", "met", "on_track", "behind"],
        help_text=_(
            "no_date: a target without a date (only the pace); passed: the target date is before today; met: the "
            "drop-off projection alone reaches the target; on_track or behind: whether the last 12 weeks' pace is enough."
        ),
    )
    as_of = serializers.DateField(help_text=_("Today (UTC): the plan counts the weeks left from this day."))
    from_week = serializers.DateField(help_text=_("The latest computed week (its Sunday): the projection and the pace start here."))
    target = serializers.IntegerField()
    target_date = serializers.DateField(allow_null=True)
    projected = serializers.IntegerField(
        allow_null=True, help_text=_("Active at the target date if nobody new joined and nobody came back (the drop-off projection).")
    )
    weeks_left = serializers.IntegerField(allow_null=True, help_text=_("From today to the target date, both counted, rounded up."))
    needed_per_week = serializers.IntegerField(
        allow_null=True, help_text=_("New contributors needed each week: ⌈(target − projected) ÷ weeks left⌉, 0 when met.")
    )
    pace_weeks = serializers.IntegerField(help_text=_("The weeks the pace is measured over: 12."))
    pace_new = serializers.IntegerField(help_text=_("New contributors in those weeks."))
    pace_per_week = serializers.FloatField(help_text=_("Their average per week."))
    pace_enough = serializers.BooleanField(allow_null=True, help_text=_("Whether the pace reaches the needed number."))


class AreaNumbersSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    active = serializers.IntegerField()
    new = serializers.IntegerField()
    target = serializers.IntegerField(allow_null=True)
    target_date = serializers.DateField(allow_null=True, help_text=_("The day the area hopes to reach its target."))
    goal_plan = GoalPlanSerializer(
        allow_null=True, help_text=_("With a target and today's summary: what the goal needs (null for a past day).")
    )


class SourceNumbersSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    active = serializers.IntegerField()
    new = serializers.IntegerField()


class SummarySerializer(serializers.Serializer):
    date = serializers.DateField(allow_null=True, help_text=_("The Sunday (UTC) of the week counted."))
    window_days = serializers.IntegerField(help_text=_("Active means a contribution on the 365 days ending the date."))
    active = serializers.IntegerField(help_text=_("Active contributors, each person once."))
    new = serializers.IntegerField(help_text=_("People whose first contribution fell in this week."))
    sum_of_areas = serializers.IntegerField(
        help_text=_("Active contributors counted once per area; the gap to `active` is the overlap.")
    )
    contributors_ever = serializers.IntegerField(help_text=_("People with any contribution ever."))
    areas = AreaNumbersSerializer(many=True)
    sources = SourceNumbersSerializer(many=True)


class LevelsSerializer(serializers.Serializer):
    casual = serializers.IntegerField()
    active = serializers.IntegerField()
    core = serializers.IntegerField()


class PointSerializer(serializers.Serializer):
    date = serializers.DateField(help_text=_("The week's Sunday (UTC)."))
    active = serializers.IntegerField()
    new = serializers.IntegerField()
    lapsed = serializers.IntegerField()
    levels = LevelsSerializer(
        required=False, help_text=_("People by the highest level reached in the window (everything and areas).")
    )


class SeriesSerializer(serializers.Serializer):
    scope = serializers.CharField()
    window_days = serializers.IntegerField()
    points = PointSerializer(many=True)


class CohortsQuerySerializer(serializers.Serializer):
    scope = serializers.RegexField(
        SCOPE_PATTERN,
        required=False,
        default="all",
        help_text=_("all, area:SLUG, source:SLUG or cp:SLUG"),
        error_messages={"invalid": _("Give a scope as all, area:SLUG, source:SLUG or cp:SLUG.")},
    )
    staff = serializers.ChoiceField(choices=["include"], required=False, help_text=_("“include” counts staff too."))


class CohortSerializer(serializers.Serializer):
    start = serializers.DateField(help_text=_("The first day of the cohort's calendar quarter (UTC)."))
    size = serializers.IntegerField(help_text=_("People whose first contribution in the scope falls in this quarter."))
    retained = serializers.ListField(
        child=serializers.IntegerField(),
        help_text=_(
            "retained[k]: how many of them contributed in the scope during the k-th quarter after this one "
            "(retained[0] is the size), up to the quarter of the latest computed week."
        ),
    )
    partial = serializers.BooleanField(help_text=_("The quarter is not over: counted up to the latest computed week."))


class CohortsSerializer(serializers.Serializer):
    scope = serializers.CharField()
    period = serializers.ChoiceField(choices=["quarter"], help_text=_("Cohorts are calendar quarters (UTC)."))
    through = serializers.DateField(
        allow_null=True, help_text=_("The last day counted: the Sunday of the latest computed week.")
    )
    cohorts = CohortSerializer(many=True)


class PathwaysQuerySerializer(serializers.Serializer):
    area = serializers.RegexField(
        r"^[-a-zA-Z0-9_]+$",
        max_length=100,
        help_text=_("The area's slug."),
        error_messages={
            "required": _("Give an area by its slug: ?area=SLUG."),
            "invalid": _("An area's slug has only letters, digits, hyphens and underscores."),
        },
    )
    staff = serializers.ChoiceField(choices=["include"], required=False, help_text=_("“include” counts staff too."))


class WentToSerializer(serializers.Serializer):
    area = serializers.CharField(help_text=_("The other area's slug."))
    name = serializers.CharField()
    count = serializers.IntegerField(help_text=_("Entrants who left and are active contributors there now."))


class PathwayNumbersSerializer(serializers.Serializer):
    entered = serializers.IntegerField(help_text=_("People whose first contribution in the area this was."))
    reached_active = serializers.IntegerField(help_text=_("Of them, people with an active or core contribution in the area since."))
    median_weeks_to_active = serializers.FloatField(
        allow_null=True, help_text=_("Median whole weeks from the first contribution to the first active one; null for nobody.")
    )
    reached_core = serializers.IntegerField(help_text=_("Of them, people with a core contribution in the area since."))
    median_weeks_to_core = serializers.FloatField(
        allow_null=True, help_text=_("Median whole weeks from the first contribution to the first core one; null for nobody.")
    )
    left = serializers.IntegerField(help_text=_("Of them, people with no contribution in the area in the 365 days ending `date`."))
    left_to = WentToSerializer(
        many=True, help_text=_("Where those who left are active contributors now; one person can be in several areas.")
    )
    left_nowhere = serializers.IntegerField(help_text=_("Of those who left, people active in no area now."))


class EntryPointSerializer(PathwayNumbersSerializer):
    conversion_point = serializers.CharField(help_text=_("The entry point: a conversion point of the area."))
    name = serializers.CharField()
    level = serializers.ChoiceField(choices=["casual", "active", "core"])


class PathwaysSerializer(serializers.Serializer):
    area = serializers.CharField()
    name = serializers.CharField()
    date = serializers.DateField(allow_null=True, help_text=_("The Sunday (UTC) of the latest computed week: the numbers are as of it."))
    window_days = serializers.IntegerField(help_text=_("Left means no contribution in the area on the 365 days ending the date."))
    total = PathwayNumbersSerializer(help_text=_("The area as a whole: each person once, however many entry points they had."))
    entry_points = EntryPointSerializer(
        many=True, help_text=_("Each conversion point of the area, most entered first; a tie on the first day counts for each.")
    )
