"""Security in production: `check --deploy` clean, a Content Security Policy the pages live with,
rate limits on the public API, push and login, and no token or webhook secret in the logs."""

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import subprocess
import sys

import pytest
from django.core.cache import cache
from django.test import Client

from activities.models import Source
from activities.sync import source_sync
from activities.tests.builders import github_repo
from activities.tests.standin import FakeGitHub, Server
from activities.tokens import source_token_create
from baloo_site.logging import JSONFormatter, RedactSecrets, redact

from .processes import PROJECT_DIR

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # rate-limit counters of one test never reach the next
    yield
    cache.clear()


def _production_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CELERY_", "BALOO_"))}
    return {**env, "DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DJANGO_ALLOWED_HOSTS": "example.org", **extra}


def test_check_deploy_is_clean_in_production():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=PROJECT_DIR, env=_production_env(), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_of_a_wildcard_host_without_a_site_url():
    """With `.example.org` allowed, links in e-mails would go to any host a request names (BALOO_SITE_URL)."""
    run = lambda **extra: subprocess.run(  # noqa: E731
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=PROJECT_DIR, env=_production_env(DJANGO_ALLOWED_HOSTS=".example.org", **extra), capture_output=True, text=True, timeout=120,
    )
    wildcard = run()
    assert wildcard.returncode != 0 and "baloo.W001" in wildcard.stdout + wildcard.stderr
    assert run(BALOO_SITE_URL="https://baloo.example.org").returncode == 0
    for not_a_site_url in ("https://baloo.example.org/path", "javascript:alert(1)", "https://user@evil.example"):
        refused = run(BALOO_SITE_URL=not_a_site_url)
        assert refused.returncode != 0 and "BALOO_SITE_URL is a scheme and host only" in refused.stderr


def test_plain_http_for_loopback_is_a_deliberate_choice():
    script = "from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE)"
    env = _production_env(DJANGO_SETTINGS_MODULE="baloo_site.settings")
    run = lambda **extra: subprocess.run(  # noqa: E731
        [sys.executable, "-c", f"import django; django.setup(); {script}"],
        cwd=PROJECT_DIR, env={**env, **extra}, capture_output=True, text=True, timeout=60,
    ).stdout.split()
    assert run() == ["True", "31536000", "True"]
    assert run(DJANGO_SECURE_SSL_REDIRECT="false")[0] == "False"


# --------------------------------------------------------------------------- Content Security Policy

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>\s*\S", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=\"", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+=", re.I)


def _assert_csp_compatible(response) -> None:
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "unsafe-inline" not in policy
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html).group(0)
    assert not INLINE_STYLE.search(html), html[INLINE_STYLE.search(html).start() - 80 :][:200]
    assert not EVENT_HANDLER.search(html), EVENT_HANDLER.search(html).group(0)


def test_pages_carry_the_policy_and_need_nothing_inline(client, admin_client, settings):
    settings.BALOO_PASSWORD_LOGIN = True  # the admin's own sign-in form, as in development
    for page in ("/", "/admin/login/"):
        response = client.get(page)
        assert response.status_code == 200, page
        _assert_csp_compatible(response)
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_the_policy_is_exactly_the_sites_own(client):
    """Every directive and source, no more (django-csp writes them; the order of directives means nothing)."""
    policy = client.get("/healthz")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives == {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "font-src": "'self'",
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }


def test_report_only_mode(settings, client):
    # What DJANGO_CSP_REPORT_ONLY=true sets: the policy reported, not enforced.
    settings.CONTENT_SECURITY_POLICY, settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = None, settings.CONTENT_SECURITY_POLICY
    response = Client().get("/healthz")
    assert "Content-Security-Policy-Report-Only" in response and "Content-Security-Policy" not in response


# --------------------------------------------------------------------------- rate limits


def test_public_api_is_rate_limited_per_client(settings):
    settings.BALOO_RATE_LIMITS = {**settings.BALOO_RATE_LIMITS, "public_api": "3/m"}
    client = Client()
    statuses = [client.get("/api/v1/metrics/summary/").status_code for _ in range(4)]
    assert 429 not in statuses[:3] and statuses[3] == 429
    refused = client.get("/api/v1/metrics/summary/", HTTP_ORIGIN="https://elsewhere.example")
    assert int(refused["Retry-After"]) >= 1 and "Too many requests" in refused.json()["error"]
    assert refused["Access-Control-Allow-Origin"] == "*"  # a browser on another site can read why
    other = Client(REMOTE_ADDR="10.0.0.2")
    assert other.get("/api/v1/metrics/summary/").status_code != 429


def test_push_is_rate_limited_per_token(settings):
    settings.BALOO_RATE_LIMITS = {**settings.BALOO_RATE_LIMITS, "push": "2/m"}
    source = Source.objects.create(slug="limited", kind="manual", name="Limited")
    first, second = (source_token_create(source=source, name=name)[1] for name in ("a", "b"))
    client = Client()

    def push(secret: str) -> int:
        return client.post("/api/v1/activities/", "[]", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code

    assert [push(first) for _ in range(3)] == [200, 200, 429]
    assert push(second) == 200


def test_sign_in_attempts_are_rate_limited(settings):
    settings.BALOO_RATE_LIMITS = {**settings.BALOO_RATE_LIMITS, "login": "3/m"}
    client = Client()
    statuses = [client.post("/admin/login/", {"username": "admin", "password": f"guess{n}"}).status_code for n in range(4)]
    assert 429 not in statuses[:3] and statuses[3] == 429
    assert client.get("/admin/login/").status_code != 429  # reading the form is not an attempt


def test_a_cache_that_is_down_lets_requests_through(settings):
    """A rate limit is worth less than the service it protects."""
    settings.CACHES = {**settings.CACHES, "down": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
    settings.RATELIMIT_USE_CACHE = "down"
    settings.BALOO_RATE_LIMITS = {**settings.BALOO_RATE_LIMITS, "public_api": "1/m"}
    client = Client()
    assert 429 not in [client.get("/api/v1/metrics/summary/").status_code for _ in range(3)]


def test_limits_can_be_lifted(settings):
    settings.BALOO_RATE_LIMITS = {"public_api": "off", "push": "off", "login": "off"}
    client = Client()
    assert all(client.get("/api/v1/metrics/summary/").status_code != 429 for _ in range(50))


# --------------------------------------------------------------------------- secrets never logged


@pytest.fixture
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def test_tokens_and_webhook_secrets_never_reach_the_logs(all_logs, monkeypatch, client):
    # A push token, right and wrong.
    source = Source.objects.create(slug="pushing", kind="manual", name="Pushing")
    _token, push_secret = source_token_create(source=source, name="portal")
    wrong_secret = "baloo_" + secrets.token_urlsafe(32)
    for secret in (push_secret, wrong_secret):
        client.post("/api/v1/activities/", "[{\"bad\": 1}]", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")
        client.post("/api/v1/activities/", "not json", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")

    # A webhook secret, with a good and a bad signature.
    webhook_secret = "whsec-" + secrets.token_hex(16)
    monkeypatch.setenv("BALOO_TOKEN_HOOK_SECRET", webhook_secret)
    Source.objects.create(slug="github-hooked", kind="github", name="GitHub", options={"webhook_secret_env": "BALOO_TOKEN_HOOK_SECRET"})
    body = json.dumps({"zen": "hi"}).encode()
    good = "sha256=" + hmac.new(webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    for signature in (good, "sha256=" + "0" * 64):
        client.generic("POST", "/hooks/github/github-hooked/", body, content_type="application/json",
                       HTTP_X_GITHUB_EVENT="issues", HTTP_X_HUB_SIGNATURE_256=signature)

    # A source's API token, on a sync that meets server errors.
    api_token = "ghp_" + secrets.token_hex(18)
    monkeypatch.setenv("BALOO_TOKEN_FUZZ", api_token)
    api = FakeGitHub()
    github_repo(api, "sec/app", issues=3, pulls=1, comments=2, commits=2)
    api.fail("/issues", status=502, times=10)
    with Server(api) as url:
        synced = Source.objects.create(slug="github-sec", kind="github", name="GitHub", base_url=url, token_env="BALOO_TOKEN_FUZZ",
                                       options={"repos": ["sec/app"], "backoff_seconds": 0})
        source_sync(source=synced)

    assert all_logs.records, "the scenario should have logged something"
    formatter, redactor = JSONFormatter(), RedactSecrets()
    written = "\n".join(formatter.format(record) for record in all_logs.records if redactor.filter(record))
    for secret in (push_secret, wrong_secret, webhook_secret, api_token, good):
        assert secret not in all_logs.text
        assert secret not in written


def test_redaction_masks_credentials_in_any_message():
    token = "baloo_" + secrets.token_urlsafe(24)
    for text in (
        f"Authorization: Bearer {token}",
        f"GET /x?token={token}&page=2",
        f'{{"api_key": "{token}"}}',
        f"signature sha256={hashlib.sha256(b'x').hexdigest()}",
        f"password={token}",
    ):
        assert token not in redact(text) and "[redacted]" in redact(text)
    assert redact("nothing secret here: 12 activities") == "nothing secret here: 12 activities"


def test_json_logs_are_one_object_per_line_with_secrets_masked():
    record = logging.makeLogRecord(
        {"name": "activities", "levelname": "WARNING", "levelno": 30, "msg": "push refused for %s", "args": ("Bearer abcdefgh12345678",), "scope": "push"}
    )
    assert RedactSecrets().filter(record)
    line = JSONFormatter().format(record)
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["level"] == "WARNING" and entry["logger"] == "activities" and entry["scope"] == "push"
    assert "abcdefgh12345678" not in line and "[redacted]" in entry["message"]
