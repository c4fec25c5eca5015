"""`manage.py send_weekly_digest [--week YYYY-MM-DD]`: the Monday digest, now (the beat task's work)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from desk.digest import digest_send
from desk.forms import latest_complete_sunday, week_parse


class Command(BaseCommand):
    help = "Send each area owner the weekly digest of the latest complete week (never twice for the same week)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--week", help="Any day of a complete week (YYYY-MM-DD); default: the latest complete week.")

    def handle(self, *args: Any, week: str | None = None, **options: Any) -> None:
        try:
            week_end = week_parse(week) if week else latest_complete_sunday()
        except ValueError:
            raise CommandError("--week: give a day of a complete week, as YYYY-MM-DD.") from None
        report = digest_send(week_end=week_end)
        self.stdout.write(
            f"Week ending {week_end.isoformat()}: {len(report.sent)} sent, {len(report.nothing)} with nothing to tell, "
            f"{len(report.already)} sent before, {len(report.unsubscribed)} unsubscribed, {len(report.failed)} failed."
        )
        if report.unconfirmed:
            self.stdout.write(
                "Started before and never confirmed (the worker stopped while sending; not sent again): "
                + ", ".join(report.unconfirmed)
            )
        if report.failed:
            raise CommandError("The mail server refused some digests; run the command again later: " + ", ".join(report.failed))
