"""The metric snapshot models now belong to the `metrics` app (its 0001): dropped from this app's state only.

The tables stay, under the names they have (`metrics.models` sets `db_table`).
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("conversion_points", "0008_metric_run_as_of"),
        ("metrics", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='metricpoint',
                    name='run',
                ),
                migrations.RemoveField(
                    model_name='overlap',
                    name='run',
                ),
                migrations.DeleteModel(
                    name='AreaMovement',
                ),
                migrations.DeleteModel(
                    name='MetricPoint',
                ),
                migrations.DeleteModel(
                    name='MetricRun',
                ),
                migrations.DeleteModel(
                    name='Overlap',
                ),
            ],
            database_operations=[],
        ),
    ]
