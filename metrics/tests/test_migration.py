"""The snapshot models moved from `conversion_points` to `metrics` without touching a row.

From the state before the move (conversion_points 0008, the models in that app) with data in the
tables, migrating on keeps every row, and the content types follow the models: a group holding
"view metric run" before holds it after, the same permission row.
"""

import pytest
from django.apps import apps as current_apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

LAST_BEFORE = ("conversion_points", "0008_metric_run_as_of")


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True)
def test_rows_and_permissions_survive_the_move():
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    migrate([LAST_BEFORE, ("metrics", None)])  # main's last migration: the metrics app had none
    old = MigrationExecutor(connection).loader.project_state([LAST_BEFORE]).apps
    try:
        Run, Point = old.get_model("conversion_points", "MetricRun"), old.get_model("conversion_points", "MetricPoint")
        run = Run.objects.create(status="complete")
        Point.objects.create(run=run, scope="all", population="volunteers", date="2026-11-22", active=3, new=1, lapsed=0)
        # Content types and permissions are not migrated back and forth: today's models read them.
        ContentType = current_apps.get_model("contenttypes", "ContentType")
        Permission, Group = current_apps.get_model("auth", "Permission"), current_apps.get_model("auth", "Group")
        content_type, _ = ContentType.objects.get_or_create(app_label="conversion_points", model="metricrun")
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename="view_metricrun", defaults={"name": "Can view metric run"}
        )
        Group.objects.create(name="readers").permissions.add(permission)
    finally:
        migrate(leaves)

    MetricRun = current_apps.get_model("metrics", "MetricRun")
    assert MetricRun.objects.get(pk=run.pk).points.get().active == 3
    Group = current_apps.get_model("auth", "Group")
    held = Group.objects.get(name="readers").permissions.get()
    assert held.pk == permission.pk
    assert (held.content_type.app_label, held.content_type.model) == ("metrics", "metricrun")
