"""The metric snapshot models move here from `conversion_points`, tables unchanged.

State only: the tables (`conversion_points_metricrun`, …) were created by `conversion_points`'
migrations 0002–0008 and keep their names (`db_table`), so nothing is written to the database but
the content types, which follow the models: their permissions (and the groups and users holding
them) stay the same rows.
"""

import django.db.models.deletion
from django.db import migrations, models

MODELS = ("metricrun", "metricpoint", "overlap", "areamovement")


def content_types_follow(apps, schema_editor):
    """conversion_points.<model> → metrics.<model>, unless the new one exists already (then nothing to keep)."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MODELS:
        if not ContentType.objects.using(db).filter(app_label="metrics", model=model).exists():
            ContentType.objects.using(db).filter(app_label="conversion_points", model=model).update(app_label="metrics")


def content_types_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MODELS:
        if not ContentType.objects.using(db).filter(app_label="conversion_points", model=model).exists():
            ContentType.objects.using(db).filter(app_label="metrics", model=model).update(app_label="conversion_points")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("conversion_points", "0008_metric_run_as_of"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='MetricRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('queued', 'queued'), ('running', 'running'), ('complete', 'complete'), ('failed', 'failed')], default='running', max_length=10, verbose_name='status')),
                        ('requested_at', models.DateTimeField(auto_now_add=True, verbose_name='requested')),
                        ('started_at', models.DateTimeField(blank=True, null=True, verbose_name='started')),
                        ('finished_at', models.DateTimeField(blank=True, null=True, verbose_name='finished')),
                        ('latest_week', models.DateField(blank=True, help_text='The Sunday of the latest computed week.', null=True, verbose_name='latest week')),
                        ('contributors_ever', models.PositiveIntegerField(default=0, help_text='Distinct volunteers, not bots, with any contribution ever.', verbose_name='contributors ever (volunteers)')),
                        ('contributors_ever_everyone', models.PositiveIntegerField(default=0, help_text='Distinct people, not bots, with any contribution ever.', verbose_name='contributors ever (staff included)')),
                        ('stats', models.JSONField(blank=True, default=dict, help_text='Timings and sizes of the recompute.', verbose_name='statistics')),
                        ('error', models.TextField(blank=True, verbose_name='error')),
                        ('cache_key', models.CharField(blank=True, editable=False, help_text='Names the saved counting state this run left for the next incremental update.', max_length=32, verbose_name='cache key')),
                        ('parts', models.PositiveSmallIntegerField(default=0, editable=False, help_text="How many tasks share this run's work (0: one task).", verbose_name='parts')),
                        ('plan', models.JSONField(blank=True, default=dict, editable=False, help_text='What every part of the run counts, and up to which activity.', verbose_name='plan')),
                        ('parts_done', models.JSONField(blank=True, default=list, editable=False, help_text='The parts whose points are written.', verbose_name='parts written')),
                        ('as_of', models.JSONField(blank=True, default=dict, editable=False, help_text='Active, new and contributors ever as of the day this run was counted, for the public summary.', verbose_name='summary as of its day')),
                    ],
                    options={
                        'verbose_name': 'metric run',
                        'verbose_name_plural': 'metric runs',
                        'db_table': 'conversion_points_metricrun',
                        'ordering': ['-id'],
                        'constraints': [models.UniqueConstraint(condition=models.Q(('status', 'queued')), fields=('status',), name='metric_run_one_queued')],
                    },
                ),
                migrations.CreateModel(
                    name='AreaMovement',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('population', models.CharField(choices=[('volunteers', 'volunteers'), ('everyone', 'staff included')], max_length=10, verbose_name='population')),
                        ('area', models.CharField(max_length=100, verbose_name='area')),
                        ('lapsed', models.PositiveIntegerField(verbose_name='lapsed')),
                        ('moved', models.PositiveIntegerField(verbose_name='moved to another area')),
                        ('left', models.PositiveIntegerField(verbose_name='left')),
                        ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='movements', to='metrics.metricrun', verbose_name='run')),
                    ],
                    options={
                        'verbose_name': 'area movement',
                        'verbose_name_plural': 'area movements',
                        'db_table': 'conversion_points_areamovement',
                        'ordering': ['run', 'population', 'area'],
                    },
                ),
                migrations.CreateModel(
                    name='Overlap',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('population', models.CharField(choices=[('volunteers', 'volunteers'), ('everyone', 'staff included')], max_length=10, verbose_name='population')),
                        ('area_a', models.CharField(max_length=100, verbose_name='area')),
                        ('area_b', models.CharField(max_length=100, verbose_name='other area')),
                        ('shared', models.PositiveIntegerField(verbose_name='shared active contributors')),
                        ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='overlaps', to='metrics.metricrun', verbose_name='run')),
                    ],
                    options={
                        'verbose_name': 'area overlap',
                        'verbose_name_plural': 'area overlaps',
                        'db_table': 'conversion_points_overlap',
                        'ordering': ['run', 'population', 'area_a', 'area_b'],
                    },
                ),
                migrations.CreateModel(
                    name='MetricPoint',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('scope', models.CharField(max_length=120, verbose_name='scope')),
                        ('population', models.CharField(choices=[('volunteers', 'volunteers'), ('everyone', 'staff included')], max_length=10, verbose_name='population')),
                        ('date', models.DateField(verbose_name='week ending')),
                        ('active', models.PositiveIntegerField(verbose_name='active')),
                        ('new', models.PositiveIntegerField(verbose_name='new')),
                        ('lapsed', models.PositiveIntegerField(verbose_name='lapsed')),
                        ('level_casual', models.PositiveIntegerField(blank=True, null=True, verbose_name='casual level')),
                        ('level_active', models.PositiveIntegerField(blank=True, null=True, verbose_name='active level')),
                        ('level_core', models.PositiveIntegerField(blank=True, null=True, verbose_name='core level')),
                        ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='points', to='metrics.metricrun', verbose_name='run')),
                    ],
                    options={
                        'verbose_name': 'metric point',
                        'verbose_name_plural': 'metric points',
                        'db_table': 'conversion_points_metricpoint',
                        'ordering': ['run', 'scope', 'population', 'date'],
                        'indexes': [models.Index(fields=['run', 'population', 'date'], name='metric_point_date_idx')],
                        'constraints': [models.UniqueConstraint(fields=('run', 'scope', 'population', 'date'), name='metric_point_unique')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_follow, content_types_back),
    ]
