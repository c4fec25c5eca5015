"""`/healthz` tells a load balancer whether this process can serve."""

import pytest

pytestmark = pytest.mark.django_db


def test_healthy_with_the_embedded_defaults(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "in-process"}


def test_an_unreachable_broker_is_reported_with_503(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    from baloo_site.celery import app

    original, app.conf.broker_url = app.conf.broker_url, settings.CELERY_BROKER_URL
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json()["broker"].startswith("down:")
    assert response.json()["database"] == "ok"
