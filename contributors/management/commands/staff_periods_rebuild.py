"""`staff_periods_rebuild`: read every e-mail-domain staff period again from the stored activities."""

from django.core.management.base import BaseCommand

from contributors.staff import staff_email_domains, staff_periods_rebuild


class Command(BaseCommand):
    help = (
        "Rebuild the staff periods STAFF_EMAIL_DOMAINS give from the stored activities (run it after changing "
        "the setting); periods from the people directory or an admin are untouched."
    )

    def handle(self, *args, **options) -> None:
        changed = staff_periods_rebuild()
        domains = ", ".join(sorted(staff_email_domains())) or "none"
        self.stdout.write(f"staff e-mail domains: {domains}  persons whose e-mail-domain period changed: {changed}")
