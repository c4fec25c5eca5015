"""With no broker configured (the README's `make run`), tasks run in-process and nothing looks for,
or warns about, a broker: kombu used to log "No hostname was supplied" on the first task sent."""

import logging
import subprocess
import sys

import pytest
from django.conf import settings

from activities.tasks import enqueue_due_syncs

pytestmark = pytest.mark.django_db


def test_a_task_sent_without_a_broker_runs_in_process_without_a_broker_warning(caplog):
    assert settings.CELERY_TASK_ALWAYS_EAGER  # the test settings have no broker
    with caplog.at_level(logging.DEBUG, logger="kombu"):
        assert enqueue_due_syncs.apply_async().get() == []
    assert not [r for r in caplog.records if r.name.startswith("kombu") and r.levelno >= logging.WARNING]


def test_no_broker_in_the_environment_means_tasks_in_process_and_a_named_broker_means_workers():
    code = "from django.conf import settings as s; print(s.CELERY_TASK_ALWAYS_EAGER, s.CELERY_BROKER_URL)"
    env = {"DJANGO_SETTINGS_MODULE": "baloo_site.settings", "DJANGO_SECRET_KEY": "x", "PATH": "/usr/bin:/bin"}

    def configured(broker: str) -> str:
        run = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            env={**env, "CELERY_BROKER_URL": broker},
            capture_output=True,
            text=True,
            check=True,
            cwd=settings.BASE_DIR,
        )
        return run.stdout.strip()

    assert configured("") == "True memory://localhost"
    assert configured("redis://redis.internal:6379/0") == "False redis://redis.internal:6379/0"
