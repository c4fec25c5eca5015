"""`manage.py sync_sources [SLUG…] [--all]`: sync sources now, with the code Celery beat schedules."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from activities.connectors import has_connector
from activities.models import Source, SyncRun
from activities.sync import source_sync, sources_syncable


class Command(BaseCommand):
    help = "Sync sources now, from their checkpoints (the same sync Celery runs on schedule)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slugs", nargs="*", metavar="SLUG", help="the sources to sync")
        parser.add_argument("--all", action="store_true", help="every enabled source that has a connector")

    def handle(self, *args, slugs: list[str], all: bool, **options) -> None:
        if not slugs and not all:
            raise CommandError("Name the sources to sync, or use --all.")
        if all:
            sources = sources_syncable()
        else:
            found = {source.slug: source for source in Source.objects.filter(slug__in=slugs)}
            unknown = [slug for slug in slugs if slug not in found]
            if unknown:
                raise CommandError(f"Unknown source(s): {', '.join(unknown)}")
            without = [slug for slug in slugs if not has_connector(found[slug].kind)]
            if without:
                raise CommandError(f"No connector for {', '.join(without)}: these sources are fed by imports and the push API.")
            sources = [found[slug] for slug in slugs]
        failed = []
        for source in sources:
            run = source_sync(source=source, trigger="command")
            line = (
                f"{source.slug}: {run.status}, {run.requests} requests ({run.not_modified} unchanged), "
                f"{run.created} created, {run.duplicate} duplicate, {run.rejected} rejected"
            )
            if run.status == SyncRun.Status.SUCCEEDED:
                self.stdout.write(self.style.SUCCESS(line))
            else:
                self.stdout.write(self.style.WARNING(line))
                self.stdout.write(f"  {run.error}")
                if run.status == SyncRun.Status.FAILED:
                    failed.append(source.slug)
        if failed:
            raise CommandError(f"Sync failed for {', '.join(failed)}; see the errors above and in the admin (Source health).")
