"""`load_config FILE`: create or update sources, areas and conversion points from a JSON file."""

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conversion_points.services import ConfigError, config_load


class Command(BaseCommand):
    help = "Load sources, areas and conversion points from a JSON configuration file (upsert by slug)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path to the configuration file (JSON).")

    def handle(self, *args, file: str, **options) -> None:
        try:
            # utf-8-sig: a file saved by an editor that starts it with a byte order mark loads too.
            with open(file, encoding="utf-8-sig") as stream:
                config = json.load(stream)
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}") from None
        except UnicodeDecodeError as error:
            raise CommandError(f"{file} is not UTF-8 text (byte {error.start}).") from None
        except RecursionError:
            raise CommandError(f"{file}: nested too deeply to read (a configuration needs a few levels).") from None
        except ValueError as error:  # invalid JSON, or a number of more digits than Python reads
            raise CommandError(f"{file} is not valid JSON: {error}") from None
        try:
            counts = config_load(config=config)
        except ConfigError as error:
            raise CommandError(f"{file}: {error}. Nothing was changed.") from None
        line = f"sources: {counts['sources']}  areas: {counts['areas']}  conversion points: {counts['conversion_points']}"
        # Files without campaigns (most, and every older one) print what they always printed.
        self.stdout.write(f"{line}  campaigns: {counts['campaigns']}" if counts["campaigns"] else line)
