"""`import_people FILE`: apply a people directory export (JSON Lines)."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from baloo_site.lines import read_lines
from contributors.directory import people_directory_import

MAX_RECORD_BYTES = 100_000


class Command(BaseCommand):
    help = "Import the people directory (JSON Lines, one person per line); prints created / updated / merged."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path to the directory export (.jsonl).")

    def handle(self, *args, file: str, **options) -> None:
        try:
            stream = open(file, "rb")  # noqa: SIM115
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}") from None
        with stream:
            lines = list(read_lines(stream, limit=MAX_RECORD_BYTES))
        result = people_directory_import(records=lines)
        for line, reason in sorted(result.rejected + result.left_out):
            self.stderr.write(f"line {line}: {reason}")
        self.stdout.write(
            f"created: {result.created}  updated: {result.updated}  merged: {result.merged}  "
            f"left the directory: {result.left}  staff periods changed: {result.staff_periods}  "
            f"rejected: {len(result.rejected)}"
        )
