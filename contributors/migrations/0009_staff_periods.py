"""Staff status gets dates: each staff flag becomes a period, from where the flag came.

- A flag from the directory or an admin becomes one period since always, open: nothing counted
  changes, and the directory's next import and admins narrow the periods from then on.
- A flag from `STAFF_EMAIL_DOMAINS` is not kept as such (it would make the person staff for all
  time, and ingestion only ever widens a period): every e-mail-domain period is read from the stored
  activities instead, from the UTC day of the first to the day of the last activity whose identity
  is an e-mail on such a domain, as `contributors.staff.staff_periods_rebuild` (the
  `staff_periods_rebuild` command) does. An approximation: activities stored under a user name or
  uid are not seen, so a person whose every activity points at an account loses the flag; the
  people directory or an admin gives them a period again.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import Max, Min, Q


def flags_to_periods(apps, schema_editor):
    Person = apps.get_model("contributors", "Person")
    StaffPeriod = apps.get_model("contributors", "StaffPeriod")
    origins = {"directory": "directory"}
    StaffPeriod.objects.bulk_create(
        (
            StaffPeriod(person_id=pk, origin=origins.get(reason, "admin"))
            for pk, reason in Person.objects.filter(is_staff=True)
            .exclude(staff_reason="email-domain")
            .values_list("pk", "staff_reason")
            .iterator()
        ),
        batch_size=5000,
    )
    email_domain_periods(apps, schema_editor)


def email_domain_periods(apps, schema_editor):
    """Every e-mail-domain period from the stored activities, in one grouped query (the logic of
    `contributors.staff.email_domain_spans`, kept here as it is today). Running it again changes nothing."""
    from datetime import UTC

    from activities.keys import email_key

    Activity = apps.get_model("activities", "Activity")
    StaffPeriod = apps.get_model("contributors", "StaffPeriod")
    domains = {email_key(domain)[2] for domain in settings.STAFF_EMAIL_DOMAINS if domain.strip()}
    StaffPeriod.objects.filter(origin="email-domain").delete()
    if not domains:
        return
    on_domain = Q()
    for domain in sorted(domains):
        on_domain |= Q(identity__value__endswith=f"@{domain}")
    spans = (
        Activity.objects.filter(identity__kind="email")
        .filter(on_domain)
        .order_by()
        .values("identity__person_id")
        .annotate(first=Min("occurred_at"), last=Max("occurred_at"))
        .values_list("identity__person_id", "first", "last")
    )
    StaffPeriod.objects.bulk_create(
        (
            StaffPeriod(
                person_id=person_id,
                staff_from=first.astimezone(UTC).date(),
                staff_until=last.astimezone(UTC).date(),
                origin="email-domain",
            )
            for person_id, first, last in spans.iterator()
        ),
        batch_size=5000,
    )


def periods_to_flags(apps, schema_editor):
    Person = apps.get_model("contributors", "Person")
    for origin in ("admin", "email-domain", "directory"):
        # E-mail-domain periods always end (on the last activity); the flag they came from never did.
        still = {} if origin == "email-domain" else {"staff_periods__staff_until__isnull": True}
        Person.objects.filter(staff_periods__origin=origin, **still).update(is_staff=True, staff_reason=origin)


class Migration(migrations.Migration):

    dependencies = [
        ('contributors', '0008_person_contribution_dates_read_from_activities'),
        ('activities', '0002_initial'),  # email_domain_periods reads the activities
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
                ('origin', models.CharField(choices=[('directory', 'the people directory'), ('email-domain', 'an e-mail on a staff domain'), ('admin', 'entered by an admin')], default='admin', help_text="Where the period came from. The people directory keeps its own periods up to date; a period entered or changed by an admin changes only by hand. A staff e-mail domain gives one period per person, from their first to their last activity with such an address, and it comes back: deleting or changing that period does not stop the domain, so the person's next activity from such an address starts a new one, and the staff_periods_rebuild command recreates it from all their stored activities.", max_length=20, verbose_name='from')),
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
