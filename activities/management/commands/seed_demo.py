"""`seed_demo [--people N]`: fill an empty database with an invented, realistic demo community."""

import time
from datetime import date
from itertools import islice

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from activities.demo import DEMO_PEOPLE, STAFF_DOMAIN, demo_config, demo_end_date, demo_records
from activities.models import Activity, Source
from activities.services import activities_ingest
from contributors.models import Person, StaffPeriod
from contributors.placeholders import counted, persons_not_counted
from conversion_points.models import Area
from conversion_points.services import config_load
from metrics.engine import metrics_recompute

BATCH_SIZE = 10_000


class Command(BaseCommand):
    help = (
        "Fill an empty database with an invented demo community: GitHub, Bugzilla and SUMO sources, "
        "six areas with conversion points, and three years of activity up to last Sunday."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--people",
            type=int,
            default=DEMO_PEOPLE,
            help=f"How many people the community has (default {DEMO_PEOPLE}).",
        )

    def handle(self, *args, people: int, **options) -> None:
        if Activity.objects.exists():
            self.stdout.write(
                "This database already holds activities, so the demo stays out of the way. "
                "Start from an empty database to see the demo community."
            )
            return
        started = time.monotonic()
        end = demo_end_date(timezone.now().date())
        with transaction.atomic():
            config_load(config=demo_config())
            # The demo's staff are those with an address on its staff domain, for the days from their
            # first to their last activity with it: its domain is a staff e-mail domain while it loads.
            with override_settings(STAFF_EMAIL_DOMAINS=[*settings.STAFF_EMAIL_DOMAINS, STAFF_DOMAIN]):
                created, rejected = self._ingest(end=end, people=people)
            staff = StaffPeriod.objects.values("person").distinct().count()
        # Count the demo community right away, so the dashboard shows it on the first visit.
        metrics_recompute()
        for rejection in rejected[:5]:
            self.stderr.write(f"record {rejection.position}: {rejection.reason}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo community ready in {time.monotonic() - started:.0f} s, up to Sunday {end.isoformat()}:\n"
                f"  sources: {Source.objects.count()}\n"
                f"  areas: {Area.objects.count()}\n"
                f"  people: {Person.objects.filter(counted('pk')).count()} "
                f"({staff} staff; {persons_not_counted().count()} bots and placeholder accounts not counted)\n"
                f"  activities: {created}" + (f" ({len(rejected)} records rejected)" if rejected else "")
            )
        )

    def _ingest(self, *, end: date, people: int) -> tuple[int, list]:
        records = enumerate(demo_records(end=end, people=people))
        created, rejected = 0, []
        while batch := list(islice(records, BATCH_SIZE)):
            result = activities_ingest(records=batch)
            created += result.created
            rejected.extend(result.rejected)
        return created, rejected
