"""The Celery application. Workers: `celery -A baloo_site worker`; schedules: `celery -A baloo_site beat`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baloo_site.settings")

app = Celery("baloo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
