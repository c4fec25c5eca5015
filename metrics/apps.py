from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = _("Metrics")

    def ready(self) -> None:
        # The apps below tell what changed through their own signals; they never import this app.
        from activities.signals import activities_stored
        from contributors.signals import people_changed
        from conversion_points.signals import rules_changed

        # The engine sends its tasks by name (they import the engine): registered here, in every process.
        from . import tasks  # noqa: F401
        from .services import counts_out_of_date

        for signal in (activities_stored, people_changed, rules_changed):
            signal.connect(counts_out_of_date, dispatch_uid=f"metrics.counts_out_of_date.{id(signal)}")
