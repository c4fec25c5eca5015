"""The edit counts and the triggers that keep them (`metrics.models.EditCount`).

PostgreSQL counts once per statement that deleted rows or changed a counted column of one (a delete
or an update of a million activities adds one, not a million updates of one row; another column's
update adds nothing). SQLite has row triggers only (it updates the count's row in place).
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
def _if_changed(name: str, columns: tuple[str, ...], counter: str) -> str:
    """A statement trigger's function: add one when a row's counted columns differ before and after.

    A set difference of (id, columns) before and after, not a row trigger: a statement updating a
    hundred thousand rows (forgetting a prolific person) adds one, and updates the count's row once.
    """
    listed = ", ".join(("id", *columns))
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF EXISTS (SELECT {listed} FROM new_rows EXCEPT SELECT {listed} FROM old_rows) THEN "
        f"{_ADD.replace('TG_ARGV[0]', repr(counter))} END IF; RETURN NULL; END $$"
    )


POSTGRESQL = [
    f"CREATE FUNCTION metrics_editcount_add() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {_ADD} RETURN NULL; END $$",
    # A statement that deleted no row (Django's cascades send many) changes nothing.
    "CREATE FUNCTION metrics_editcount_add_if_deleted() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN IF EXISTS (SELECT 1 FROM deleted) THEN {_ADD} END IF; RETURN NULL; END $$",
    _if_changed("metrics_activities_changed", ACTIVITY_COLUMNS, "activities"),
    _if_changed("metrics_identities_changed", ("person_id",), "identities"),
    "CREATE TRIGGER metrics_activities_deleted AFTER DELETE ON activities_activity REFERENCING OLD TABLE AS deleted "
    "FOR EACH STATEMENT EXECUTE FUNCTION metrics_editcount_add_if_deleted('activities')",
    "CREATE TRIGGER metrics_activities_changed AFTER UPDATE ON activities_activity "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION metrics_activities_changed()",
    "CREATE TRIGGER metrics_activities_truncated AFTER TRUNCATE ON activities_activity "
    "FOR EACH STATEMENT EXECUTE FUNCTION metrics_editcount_add('activities')",
    "CREATE TRIGGER metrics_identities_moved AFTER UPDATE ON contributors_identity "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION metrics_identities_changed()",
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
    "DROP FUNCTION IF EXISTS metrics_activities_changed()",
    "DROP FUNCTION IF EXISTS metrics_identities_changed()",
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
