"""`manage.py recompute_metrics`: recompute every metric series now (the nightly job, synchronously)."""

from django.core.management.base import BaseCommand

from metrics.engine import metrics_recompute


class Command(BaseCommand):
    help = "Recompute every weekly metric series of every scope now, and swap the new snapshots in."

    def handle(self, *args, **options) -> None:
        run = metrics_recompute()
        stats = run.stats if run else {}
        self.stdout.write(
            f"Metric run {run.pk if run else '-'} complete: latest week {run.latest_week if run else '-'}, "
            f"{stats.get('points', 0)} points, {run.contributors_ever if run else 0} volunteers ever "
            f"(fetch {stats.get('fetch_s', 0)} s, compute {stats.get('compute_s', 0)} s, write {stats.get('write_s', 0)} s)."
        )
