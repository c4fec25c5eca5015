"""Raw payloads in a PostgreSQL `text` column (see RawPayloadField): the ingestion service wrote
them as JSON, so checking them again on every insert bought nothing. Other databases: no change."""

from django.db import migrations


def _alter(type_and_cast: str):
    def alter(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE activities_activity ALTER COLUMN data TYPE {type_and_cast}")

    return alter


class Migration(migrations.Migration):
    dependencies = [
        ("activities", "0004_raw_payload_as_sent"),
    ]

    operations = [
        migrations.RunPython(_alter("text USING data::text"), _alter("json USING data::json"), elidable=False),
    ]
