"""The default placeholder accounts of each system, and the Bugzilla sources' `nobody` option folded in."""

from django.db import migrations

# (system kind, identity kind, value as its key writes it, why): a copy, so the migration never changes.
DEFAULTS = (
    ("bugzilla", "email", "nobody@mozilla.org", "Bugzilla's default assignee: a bug nobody has taken"),
    ("sumo", "username", "anonymoususer", "Kitsune's shared account for anonymous questions and answers"),
    ("sumo", "username", "sumobot", "Kitsune gives the content of deleted users to SumoBot"),
    ("github", "username", "ghost", "GitHub shows the content of deleted users as ghost"),
    ("github", "uid", "10137", "The account id of GitHub's ghost"),
)


def add_defaults(apps, schema_editor):
    PlaceholderAccount = apps.get_model("contributors", "PlaceholderAccount")
    Source = apps.get_model("activities", "Source")
    rows = {(kind, identity_kind, value): note for kind, identity_kind, value, note in DEFAULTS}
    for source in Source.objects.filter(kind="bugzilla"):
        nobody = (source.options or {}).get("nobody") if isinstance(source.options, dict) else None
        for value in nobody if isinstance(nobody, list) else ():
            if isinstance(value, str) and "@" in value.strip():
                rows.setdefault(
                    ("bugzilla", "email", value.strip().lower()),
                    f"From the “nobody” option of source {source.slug}"[:300],
                )
    for (source_kind, kind, value), note in rows.items():
        PlaceholderAccount.objects.get_or_create(source_kind=source_kind, kind=kind, value=value, defaults={"note": note})


class Migration(migrations.Migration):
    dependencies = [
        ("activities", "0007_source_links_accounts"),
        ("contributors", "0006_placeholder_accounts"),
    ]

    operations = [migrations.RunPython(add_defaults, migrations.RunPython.noop)]
