"""The edit counts and the triggers that keep them (`metrics.models.EditCount`).

PostgreSQL counts a delete once per statement that deleted rows (a delete of a million activities
adds one, not a million updates of one row), and a change per row that really changed (not another
column's update). SQLite has row triggers only.
"""

from django.db import migrations, models

ACTIVITY_COLUMNS = ("identity_id", "source_id", "type", "occurred_at", "container")

_ADD = """
        INSERT INTO metrics_editcount (id, activities, identities)
        VALUES (1, CASE WHEN TG_ARGV[0] = 'activities' THEN 1 ELSE 0 END,
                   CASE WHEN TG_ARGV[0] = 'identities' THEN 1 ELSE 0 END)
        ON CONFLICT (id) DO UPDATE SET
            activities = metrics_editcount.activities + EXCLUDED.activities,
            identities = metrics_editcount.identities + EXCLUDED.identities;
"""
_CHANGED = " OR ".join(f"OLD.{column} IS DISTINCT FROM NEW.{column}" for column in ACTIVITY_COLUMNS)

POSTGRESQL = [
    f"CREATE FUNCTION metrics_editcount_add() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {_ADD} RETURN NULL; END $$",
    # A statement that deleted no row (Django's cascades send many) changes nothing.
    "CREATE FUNCTION metrics_editcount_add_if_deleted() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN IF EXISTS (SELECT 1 FROM deleted) THEN {_ADD} END IF; RETURN NULL; END $$",
    "CREATE TRIGGER metrics_activities_deleted AFTER DELETE ON activities_activity REFERENCING OLD TABLE AS deleted "
    "FOR EACH STATEMENT EXECUTE FUNCTION metrics_editcount_add_if_deleted('activities')",
    f"CREATE TRIGGER metrics_activities_changed AFTER UPDATE OF {', '.join(ACTIVITY_COLUMNS)} ON activities_activity "
    f"FOR EACH ROW WHEN ({_CHANGED}) EXECUTE FUNCTION metrics_editcount_add('activities')",
    "CREATE TRIGGER metrics_activities_truncated AFTER TRUNCATE ON activities_activity "
    "FOR EACH STATEMENT EXECUTE FUNCTION metrics_editcount_add('activities')",
    "CREATE TRIGGER metrics_identities_moved AFTER UPDATE OF person_id ON contributors_identity "
    "FOR EACH ROW WHEN (OLD.person_id IS DISTINCT FROM NEW.person_id) EXECUTE FUNCTION metrics_editcount_add('identities')",
    "CREATE TRIGGER metrics_identities_deleted AFTER DELETE ON contributors_identity REFERENCING OLD TABLE AS deleted "
    "FOR EACH STATEMENT EXECUTE FUNCTION metrics_editcount_add_if_deleted('identities')",
    "CREATE TRIGGER metrics_identities_truncated AFTER TRUNCATE ON contributors_identity "
    "FOR EACH STATEMENT EXECUTE FUNCTION metrics_editcount_add('identities')",
]
POSTGRESQL_REVERSE = [
    "DROP TRIGGER IF EXISTS metrics_activities_deleted ON activities_activity",
    "DROP TRIGGER IF EXISTS metrics_activities_changed ON activities_activity",
    "DROP TRIGGER IF EXISTS metrics_activities_truncated ON activities_activity",
    "DROP TRIGGER IF EXISTS metrics_identities_moved ON contributors_identity",
    "DROP TRIGGER IF EXISTS metrics_identities_deleted ON contributors_identity",
    "DROP TRIGGER IF EXISTS metrics_identities_truncated ON contributors_identity",
    "DROP FUNCTION IF EXISTS metrics_editcount_add()",
    "DROP FUNCTION IF EXISTS metrics_editcount_add_if_deleted()",
]


def _sqlite_add(column: str) -> str:
    return (
        "INSERT OR IGNORE INTO metrics_editcount (id, activities, identities) VALUES (1, 0, 0); "
        f"UPDATE metrics_editcount SET {column} = {column} + 1 WHERE id = 1;"
    )


SQLITE = [
    f"CREATE TRIGGER metrics_activities_deleted AFTER DELETE ON activities_activity BEGIN {_sqlite_add('activities')} END",
    f"CREATE TRIGGER metrics_activities_changed AFTER UPDATE OF {', '.join(ACTIVITY_COLUMNS)} ON activities_activity "
    f"WHEN {' OR '.join(f'OLD.{c} IS NOT NEW.{c}' for c in ACTIVITY_COLUMNS)} BEGIN {_sqlite_add('activities')} END",
    "CREATE TRIGGER metrics_identities_moved AFTER UPDATE OF person_id ON contributors_identity "
    f"WHEN OLD.person_id IS NOT NEW.person_id BEGIN {_sqlite_add('identities')} END",
    f"CREATE TRIGGER metrics_identities_deleted AFTER DELETE ON contributors_identity BEGIN {_sqlite_add('identities')} END",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS metrics_activities_deleted",
    "DROP TRIGGER IF EXISTS metrics_activities_changed",
    "DROP TRIGGER IF EXISTS metrics_identities_moved",
    "DROP TRIGGER IF EXISTS metrics_identities_deleted",
]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor) -> None:
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):

    dependencies = [
        ("metrics", "0004_metricpart_partial_results"),
        ("activities", "0011_source_kinds_with_connectors"),
        ("contributors", "0009_staff_periods"),
    ]

    operations = [
        migrations.CreateModel(
            name="EditCount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("activities", models.BigIntegerField(default=0, verbose_name="activities deleted or changed")),
                ("identities", models.BigIntegerField(default=0, verbose_name="identities moved or deleted")),
            ],
            options={"verbose_name": "edit count", "verbose_name_plural": "edit counts"},
        ),
        migrations.RunPython(
            _run({"postgresql": POSTGRESQL, "sqlite": SQLITE}),
            _run({"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE}),
        ),
    ]
