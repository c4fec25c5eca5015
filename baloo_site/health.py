"""`/healthz`: is this process able to serve? Checks the database and the task broker."""

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from .celery import app as celery_app


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _broker() -> str:
    if settings.CELERY_BROKER_URL == settings.IN_PROCESS_BROKER_URL:
        return "in-process"  # the embedded default: tasks run in the web process
    with celery_app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, timeout=2)
    return "ok"


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 with each component "ok" when healthy; 503 naming what is down otherwise."""
    status, checks = 200, {}
    for name, check in (("database", _database), ("broker", _broker)):
        try:
            checks[name] = check()
        except Exception as error:  # any failure means "not healthy", and says why
            checks[name] = f"down: {error.__class__.__name__}"
            status = 503
    return JsonResponse({"status": "ok" if status == 200 else "unhealthy", **checks}, status=status)
