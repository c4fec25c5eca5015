"""Staff status gets dates: each staff flag becomes one period since always, open, from where the flag came.

Nothing counted changes by this migration; the directory's next import and admins narrow the
periods from then on (contributors.staff).
"""

import django.db.models.deletion
from django.db import migrations, models



def flags_to_periods(apps, schema_editor):
    Person = apps.get_model("contributors", "Person")
    StaffPeriod = apps.get_model("contributors", "StaffPeriod")
    origins = {"directory": "directory", "email-domain": "email-domain"}
    StaffPeriod.objects.bulk_create(
        (
            StaffPeriod(person_id=pk, origin=origins.get(reason, "admin"))
            for pk, reason in Person.objects.filter(is_staff=True).values_list("pk", "staff_reason").iterator()
        ),
        batch_size=5000,
    )


def periods_to_flags(apps, schema_editor):
    Person = apps.get_model("contributors", "Person")
    for origin in ("admin", "email-domain", "directory"):
        Person.objects.filter(staff_periods__origin=origin, staff_periods__staff_until__isnull=True).update(
            is_staff=True, staff_reason=origin
        )


class Migration(migrations.Migration):

    dependencies = [
        ('contributors', '0008_person_contribution_dates_read_from_activities'),
    ]

    operations = [
        migrations.AlterField(
            model_name='identityaudit',
            name='action',
            field=models.CharField(choices=[('merge', 'merge'), ('unmerge', 'unmerge'), ('move', 'identity moved'), ('directory', 'people directory'), ('flag', 'staff period or bot flag'), ('forget', 'forgotten on request')], max_length=20, verbose_name='action'),
        ),
        migrations.CreateModel(
            name='StaffPeriod',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('staff_from', models.DateField(blank=True, help_text='The first day (UTC) counted as staff. Empty: since always.', null=True, verbose_name='staff from')),
                ('staff_until', models.DateField(blank=True, help_text='The last day (UTC) counted as staff. Empty: still staff.', null=True, verbose_name='staff until')),
                ('origin', models.CharField(choices=[('directory', 'the people directory'), ('email-domain', 'an e-mail on a staff domain'), ('admin', 'entered by an admin')], default='admin', help_text='Where the period came from. The people directory and staff e-mail domains keep their own periods up to date; a period entered by an admin changes only by hand.', max_length=20, verbose_name='from')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                ('person', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='staff_periods', to='contributors.person', verbose_name='person')),
            ],
            options={
                'verbose_name': 'staff period',
                'verbose_name_plural': 'staff periods',
                'ordering': ['person', models.OrderBy(models.F('staff_from'), nulls_first=True), 'id'],
                'constraints': [models.CheckConstraint(condition=models.Q(('staff_from__isnull', True), ('staff_until__isnull', True), ('staff_from__lte', models.F('staff_until')), _connector='OR'), name='staff_period_start_before_end')],
            },
        ),
        migrations.RunPython(flags_to_periods, periods_to_flags),
        migrations.RemoveField(
            model_name='person',
            name='is_staff',
        ),
        migrations.RemoveField(
            model_name='person',
            name='staff_reason',
        ),
    ]
