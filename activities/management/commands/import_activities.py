"""`import_activities FILE [--create-sources]`: load a JSON Lines file of activity records."""

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from activities.services import activities_ingest
from baloo_site.lines import read_lines


class Command(BaseCommand):
    # System checks load every URL and model on start; an import needs none of it.
    requires_system_checks: list[str] = []
    help = "Import activity records (JSON Lines, one record per line) from a file; prints created / duplicate / rejected."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path to a .jsonl file, or - for standard input.")
        parser.add_argument("--create-sources", action="store_true", help="Create unknown sources as import-only sources.")

    def handle(self, *args, file: str, create_sources: bool, **options) -> None:
        try:
            stream = open(file, "rb") if file != "-" else sys.stdin.buffer  # noqa: SIM115
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}") from None
        with stream:
            result = activities_ingest(
                records=read_lines(stream, limit=settings.BALOO_MAX_RECORD_BYTES), create_sources=create_sources
            )
        for slug in result.sources_created:
            self.stdout.write(f"created source {slug!r} (import only)")
        for rejection in result.rejected:
            self.stderr.write(f"line {rejection.position}: {rejection.reason}")
        self.stdout.write(f"created: {result.created}  duplicate: {result.duplicate}  rejected: {len(result.rejected)}")
