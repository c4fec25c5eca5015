"""The language cookie is sent like the session's: Secure outside development, SameSite=Lax, and
HttpOnly (no script reads it)."""

import os
import secrets
import subprocess
import sys
from http.cookies import SimpleCookie

import pytest
from django.conf import settings
from django.test import Client

from .processes import PROJECT_DIR

pytestmark = pytest.mark.django_db


def _language_cookie(response) -> SimpleCookie:
    return response.cookies[settings.LANGUAGE_COOKIE_NAME]


@pytest.mark.parametrize("switch", ["link", "form"])
def test_the_language_cookie_is_same_site_and_out_of_scripts_reach(switch):
    client = Client()
    if switch == "link":
        response = client.get("/language/fr/", {"next": "/"})
    else:
        response = client.post("/i18n/setlang/", {"language": "fr", "next": "/"})

    cookie = _language_cookie(response)
    assert cookie.value == "fr"
    assert cookie["samesite"] == "Lax" and cookie["httponly"] is True
    assert bool(cookie["secure"]) == settings.SESSION_COOKIE_SECURE


def test_the_language_cookie_is_secure_in_production_like_the_session_cookie():
    script = "from django.conf import settings as s; print(s.LANGUAGE_COOKIE_SECURE, s.SESSION_COOKIE_SECURE)"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CELERY_", "BALOO_"))}
    env |= {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DJANGO_ALLOWED_HOSTS": "example.org",
            "DJANGO_SETTINGS_MODULE": "baloo_site.settings"}

    def secure(**extra: str) -> list[str]:
        return subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {script}"],
            cwd=PROJECT_DIR, env={**env, **extra}, capture_output=True, text=True, timeout=60,
        ).stdout.split()

    assert secure() == ["True", "True"]
    assert secure(DJANGO_SECURE_COOKIES="false") == ["False", "False"]
    assert secure(DJANGO_DEBUG="true") == ["False", "False"]
