"""`suggest_merges`: look for identities that may be the same human (reviewed by staff in the admin)."""

from django.core.management.base import BaseCommand

from contributors.suggestions import suggestions_refresh


class Command(BaseCommand):
    help = (
        "Find new merge suggestions (names in other spellings, orders or with initials; address names across "
        "domains; logins; user names in different systems). Nothing is merged."
    )

    def handle(self, *args, **options) -> None:
        created = suggestions_refresh()
        self.stdout.write(f"new suggestions: {created} (review them in the admin under “merge suggestions”)")
