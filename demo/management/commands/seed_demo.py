"""`seed_demo [--people N] [--config FILE]`: fill an empty database with an invented, realistic demo community
(and, in development, a contributor's login to see "my contributions" with). With `--config`, the community
fits that configuration file (docs/examples/mozilla.json, or a community's own) instead of the demo's own."""

import json
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from activities.models import Source
from contributors.models import Person, StaffPeriod
from contributors.placeholders import counted, persons_not_counted
from conversion_points.models import Area
from conversion_points.services import ConfigError
from demo.generator import DEMO_PEOPLE
from demo.services import demo_contributor_login, demo_seed


class Command(BaseCommand):
    help = (
        "Fill an empty database with an invented demo community: GitHub, Bugzilla and SUMO sources, "
        "six areas with conversion points, and three years of activity up to last Sunday. "
        "With --config FILE, the sources, areas and conversion points of that configuration file instead, "
        "never synced, with activity that fits them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--people",
            type=int,
            default=DEMO_PEOPLE,
            help=f"How many people the community has (default {DEMO_PEOPLE}).",
        )
        parser.add_argument(
            "--config",
            metavar="FILE",
            help="A configuration file (the load_config format) to seed a community for, e.g. docs/examples/mozilla.json.",
        )

    def handle(self, *args, people: int, config: str | None = None, **options) -> None:
        started = time.monotonic()
        loaded = None if config is None else _read(config)
        try:
            seeded = demo_seed(today=timezone.now().date(), people=people, config=loaded)
        except ConfigError as error:
            raise CommandError(f"{config}: {error}. Nothing was changed.") from None
        if seeded.skipped:
            self.stdout.write(
                "This database already holds activities, so the demo stays out of the way. "
                "Start from an empty database to see the demo community."
            )
            return
        for rejection in seeded.rejected[:5]:
            self.stderr.write(f"record {rejection.position}: {rejection.reason}")
        staff = StaffPeriod.objects.values("person").distinct().count()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo community ready in {time.monotonic() - started:.0f} s, up to Sunday {seeded.end.isoformat()}:\n"
                f"  sources: {Source.objects.count()}\n"
                f"  areas: {Area.objects.count()}\n"
                f"  people: {Person.objects.filter(counted('pk')).count()} "
                f"({staff} staff; {persons_not_counted().count()} bots and placeholder accounts not counted)\n"
                f"  activities: {seeded.created}"
                + (f" ({len(seeded.rejected)} records rejected)" if seeded.rejected else "")
            )
        )
        login = demo_contributor_login()
        if login is not None:
            self.stdout.write(
                f"Development contributor login: user '{login.username}', password '{login.password}' "
                f"({login.email}'s record; sign in from \"My contributions\", /me/)"
            )


def _read(file: str) -> dict:
    """A configuration file's content, read as `load_config` reads it."""
    try:
        with open(file, encoding="utf-8-sig") as stream:
            return json.load(stream)
    except OSError as error:
        raise CommandError(f"Cannot read {file}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise CommandError(f"{file} is not UTF-8 text (byte {error.start}).") from None
    except RecursionError:
        raise CommandError(f"{file}: nested too deeply to read (a configuration needs a few levels).") from None
    except ValueError as error:
        raise CommandError(f"{file} is not valid JSON: {error}") from None
