"""Next-step links are shown on public pages: one that is not an http(s) address (a `javascript:`
link loaded before load_config checked them) is emptied, so no page ever renders it."""

from django.db import migrations
from django.db.models import Q


def forget_unsafe_links(apps, schema_editor):
    ConversionPoint = apps.get_model("conversion_points", "ConversionPoint")
    safe = Q(next_step_url="") | Q(next_step_url__istartswith="http://") | Q(next_step_url__istartswith="https://")
    ConversionPoint.objects.exclude(safe).update(next_step_url="")


class Migration(migrations.Migration):
    dependencies = [("conversion_points", "0006_conversion_point_approval")]

    operations = [migrations.RunPython(forget_unsafe_links, migrations.RunPython.noop)]
