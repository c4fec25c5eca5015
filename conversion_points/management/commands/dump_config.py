"""`dump_config`: print sources, areas and conversion points as a JSON file that `load_config` reads back."""

import json

from django.core.management.base import BaseCommand

from conversion_points.services import config_dump


class Command(BaseCommand):
    help = "Print the configuration (sources, areas, conversion points) as JSON."

    def handle(self, *args, **options) -> None:
        self.stdout.write(json.dumps(config_dump(), indent=2, ensure_ascii=False))
