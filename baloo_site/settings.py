"""Baloo settings: one module, driven by the environment (django-environ).

Development needs nothing set: SQLite in the project folder, tasks run in-process.
Production sets DATABASE_URL, CELERY_BROKER_URL, DJANGO_SECRET_KEY and friends (see README).
"""

from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

from .logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Debug is on only when asked for; production is the default.
DEBUG = env.bool("DJANGO_DEBUG", default=False)

# A secret key is required outside development; the development key is useless elsewhere.
SECRET_KEY = env("DJANGO_SECRET_KEY", default="") or (
    "dev-only-insecure-key-never-use-in-production" if DEBUG else ""
)
if not SECRET_KEY:
    raise environ.ImproperlyConfigured("Set DJANGO_SECRET_KEY (or DJANGO_DEBUG=true for development).")

# Host names this site answers to.
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
# The site's public address (scheme and host, e.g. https://baloo.example.org), used for every absolute
# link that leaves a page: in e-mails, and the return address given to the sign-in provider. Unset,
# the request's host is used, which is safe only while ALLOWED_HOSTS holds no wildcard.
BALOO_SITE_URL = env("BALOO_SITE_URL", default="").strip().rstrip("/")
_site = urlsplit(BALOO_SITE_URL)
if BALOO_SITE_URL and (
    _site.scheme not in ("http", "https")
    or not _site.hostname
    or "@" in _site.netloc
    or BALOO_SITE_URL != f"{_site.scheme}://{_site.netloc}"
):
    raise environ.ImproperlyConfigured("BALOO_SITE_URL is a scheme and host only, e.g. https://baloo.example.org")

INSTALLED_APPS = [
    # modeltranslation must come before the admin so translated fields show in it.
    "modeltranslation",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "corsheaders",
    "django_celery_beat",
    "contributors",
    "activities",
    "conversion_points",
    "metrics",  # the counting engine, its snapshots and the public metrics API
    "dashboard",  # the public dashboard pages
    "accounts",  # sign-in (OpenID Connect single sign-on), roles from claims, API tokens
    "community",  # help pages, glossary, integration requests
    "api",  # API plumbing and routing, the staff API
    "demo",  # seed_demo: the invented demo community
    "desk",  # the builder's desk (who is new, active, about to lapse, lapsed) and the weekly digest
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A view's uncaught error on /api/ and /hooks/ answers JSON (503 when the database is down), not an HTML page.
    "baloo_site.errors.MachineErrorsMiddleware",
    # Content Security Policy on every answer (CONTENT_SECURITY_POLICY below; django-csp).
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # HTML pages gzip-compressed (static files are WhiteNoise's, compressed at build time and answered
    # above, so never twice). BREACH: see docs/security.md, "Compressed answers".
    "baloo_site.compression.PageGZipMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Rate limits on the public API, push and login (BALOO_RATE_LIMITS below); after CORS so a 429 carries its headers.
    "baloo_site.security.RateLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Renews single sign-on sessions whose id token expired (idle without a provider; password sessions untouched).
    "accounts.middleware.SessionRefresh",
]

ROOT_URLCONF = "baloo_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "baloo_site.wsgi.application"

# SQLite in the project folder is the embedded default; production uses PostgreSQL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Web processes keep their database connection between requests (opening one costs more than most
# requests); a connection that went away is noticed and replaced before it is used.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the dashboard read while an import writes; a timeout instead of "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache (the public API's answers, rate-limit counters): per-process memory by default; production
# with several web processes sets CACHE_URL=redis://127.0.0.1:6379/1 so they share one.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Languages: English is the source language; every page and message is translatable.
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("de", _("German")),
    ("fr", _("French")),
    ("es", _("Spanish")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
MODELTRANSLATION_DEFAULT_LANGUAGE = "en"
MODELTRANSLATION_FALLBACK_LANGUAGES = ("en",)
USE_I18N = True
# All times are stored and counted in UTC (weeks end on Sundays, UTC).
TIME_ZONE = "UTC"
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Celery: with no broker configured, tasks run in-process (the embedded default). They still take a
# producer from Celery's pool (to serialise their arguments as a worker would): kombu's in-memory
# transport, so no broker is looked for on localhost, nor warned about ("No hostname was supplied").
IN_PROCESS_BROKER_URL = "memory://localhost"
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="") or IN_PROCESS_BROKER_URL
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL == IN_PROCESS_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_ACKS_LATE = True  # a task killed mid-way is redelivered, not lost
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# A worker killed mid-task (SIGKILL, lost machine) gives its task back to the queue instead of failing
# it; every task is idempotent, so running it again is safe.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Redis redelivers a task whose worker vanished after this many seconds: longer than any task runs.
# Other Redis transport options may be added as JSON (the fault tests shorten the restore sweep).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    **env.json("CELERY_BROKER_TRANSPORT_OPTIONS", default={}),
}
# A broker that is down answers within seconds instead of blocking a web request for long.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
# One queue per kind of work, so a long sync never delays ingestion or the metrics, and each can
# get workers (or machines) of its own: `celery -A baloo_site worker -Q sync`. See docs/deploying.md.
CELERY_TASK_ROUTES = {
    "activities.sync_source": {"queue": "sync"},
    "activities.enqueue_due_syncs": {"queue": "sync"},
    "activities.ingest_records": {"queue": "ingest"},
    # The resend check must not wait behind the recompute it may be rescuing.
    "metrics.requests_resend": {"queue": "celery"},
    "metrics.*": {"queue": "metrics"},
    # The metrics tasks' names before #17, kept for one release (`metrics.tasks`).
    "conversion_points.tasks.*": {"queue": "metrics"},
    "contributors.suggest_merges": {"queue": "metrics"},
}
# Workers log through LOGGING below (JSON in production), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Periodic jobs are declared in code (baloo_site/celery_beat.py); beat loads them into its database.
from .celery_beat import CELERY_BEAT_SCHEDULE  # noqa: E402,F401

# The public API and the badges are open to every origin; they never carry personal data.
CORS_URLS_REGEX = r"^/(api/v1/metrics/|badge/).*$"
CORS_ALLOW_ALL_ORIGINS = True

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Baloo API",
    "DESCRIPTION": "How many people actively contribute, and where.",
    "VERSION": "1.0.0",
}

# Identity: e-mail domains whose addresses make a person staff, from the first to the last activity
# naming one (for communities without a directory; see contributors/staff.py).
STAFF_EMAIL_DOMAINS = env.list("STAFF_EMAIL_DOMAINS", default=[])

# Identity: the class ingestion asks for the identities of records' actors (activities/actors.py).
BALOO_ACTOR_RESOLVER = "contributors.services.ResolvedActors"

# Rules: which of some persons a user may read, and by which name; the rule editor's preview names only
# those (accounts/permissions.py, named here so conversion_points does not import accounts).
BALOO_READABLE_PEOPLE = "accounts.permissions.readable_people_among"

# Imports: the longest single activity record accepted, in bytes (a larger line is rejected, not read).
BALOO_MAX_RECORD_BYTES = env.int("BALOO_MAX_RECORD_BYTES", default=1_000_000)

# Sources' syncs reach only public addresses: loopback, private, link-local (cloud metadata) and
# other internal addresses are refused, unless the host is listed here (comma-separated names or
# addresses exactly as the source's URLs write them, e.g. "127.0.0.1" for a local stand-in of an
# API, or an internal Bugzilla's name). See activities/outbound.py and docs/integrating-a-system.md.
BALOO_SOURCE_ALLOWED_HOSTS = env.list("BALOO_SOURCE_ALLOWED_HOSTS", default=[])
# git sources: the directories whose repositories a source may read by local path (comma-separated,
# absolute; symbolic links are followed before the check). Empty: no local path is read, only https URLs.
BALOO_GIT_ALLOWED_PATHS = env.list("BALOO_GIT_ALLOWED_PATHS", default=[])
# git sources: where the worker keeps each source's bare mirror (default: var/git/ in the project).
BALOO_GIT_WORKDIR = env("BALOO_GIT_WORKDIR", default="")
# Requests with one source token under way at once, across every worker (shared through the cache:
# set CACHE_URL to Redis with more than one worker). GitHub asks for one at a time per token.
BALOO_SYNC_CONCURRENCY_PER_TOKEN = env.int("BALOO_SYNC_CONCURRENCY_PER_TOKEN", default=1)

# Logs: one JSON object per line in production (DJANGO_LOG_FORMAT=json|plain), credentials masked
# in every format (baloo_site/logging.py).
LOGGING = logging_config(
    log_format=env("DJANGO_LOG_FORMAT", default="plain" if DEBUG else "json"),
    level=env("DJANGO_LOG_LEVEL", default="INFO"),
)

# Error reporting: exceptions go to Sentry (or a compatible service) when SENTRY_DSN is set.
# No personal data is sent: no cookies, headers, bodies or user details.
SENTRY_DSN = env("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=env("SENTRY_ENVIRONMENT", default="production"),
        send_default_pii=False,
        max_request_body_size="never",
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )

# Metrics: seconds a "recompute soon" request waits, so a burst of ingestion batches gives one
# recompute. Short: an incremental update takes a second or two, and at most one request waits at a
# time, so a steady stream is counted every few seconds without a recompute storm (bench: freshness).
BALOO_METRICS_DEBOUNCE_SECONDS = env.int("BALOO_METRICS_DEBOUNCE_SECONDS", default=2)
# Metrics: where the recomputing worker keeps its incremental cache (default: var/metrics-cache/).
BALOO_METRICS_CACHE_DIR = env("BALOO_METRICS_CACHE_DIR", default="")
# Metrics: shares of the persons the nightly recompute is split into, one task each across the
# workers (0: this machine's core count). Set it to the worker processes serving the metrics queue.
BALOO_METRICS_PARTS = env.int("BALOO_METRICS_PARTS", default=0)

# --- Sign-in and permissions (accounts app): OpenID Connect single sign-on, roles from claims. ---
# Django's password check answers permissions for everyone; it signs people in only where allowed.
# The OpenID Connect backend does nothing until a provider is configured below.
AUTHENTICATION_BACKENDS = ["accounts.auth.PasswordBackend", "accounts.auth.OIDCBackend"]
# Password sign-in (the admin's own form): development only, unless asked for.
BALOO_PASSWORD_LOGIN = env.bool("BALOO_PASSWORD_LOGIN", default=DEBUG)
# The client Baloo is registered as at the provider. Single sign-on is on when this and the provider are set.
OIDC_RP_CLIENT_ID = env("OIDC_RP_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env("OIDC_RP_CLIENT_SECRET", default="")
# The provider: its issuer URL (endpoints read from its discovery document), or each endpoint below.
OIDC_OP_ISSUER = env("OIDC_OP_ISSUER", default="")
OIDC_OP_AUTHORIZATION_ENDPOINT = env("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env("OIDC_OP_JWKS_ENDPOINT", default="")
OIDC_OP_LOGOUT_ENDPOINT = env("OIDC_OP_LOGOUT_ENDPOINT", default="")
# Id tokens are RS256-signed by the provider and checked against its published keys (JWKS).
OIDC_RP_SIGN_ALGO = env("OIDC_RP_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env("OIDC_RP_SCOPES", default="openid email profile")
# Which claim lists the person's groups, and which groups make which Baloo role (`role=group|group,…`).
OIDC_GROUPS_CLAIM = env("OIDC_GROUPS_CLAIM", default="groups")
OIDC_ROLE_GROUPS = env("OIDC_ROLE_GROUPS", default="admin=baloo-admins,staff=baloo-staff,builder=community-builders")
# New users are created only with an e-mail on these domains, or a group mapped to a role.
OIDC_ALLOWED_EMAIL_DOMAINS = env.list("OIDC_ALLOWED_EMAIL_DOMAINS", default=[])
# Also let in anyone whose verified e-mail Baloo already holds as a contributor's identity (as a contributor only).
OIDC_ALLOW_KNOWN_CONTRIBUTORS = env.bool("OIDC_ALLOW_KNOWN_CONTRIBUTORS", default=False)
# Users are matched by e-mail, so only an address the provider verified is trusted.
OIDC_REQUIRE_VERIFIED_EMAIL = env.bool("OIDC_REQUIRE_VERIFIED_EMAIL", default=True)
# How often a single sign-on session (pages and staff API alike) is checked with the provider, roles re-read.
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = env.int("OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS", default=15 * 60)
# Seconds by which the provider's clock may differ from ours when an id token's times are checked.
OIDC_CLOCK_LEEWAY_SECONDS = env.int("OIDC_CLOCK_LEEWAY_SECONDS", default=60)
# With single sign-on, a personal staff API token acts for its user only while the provider confirmed
# that user's roles (a sign-in or session check) within this many days: a role removed at the
# provider ends the token's rights too, at the latest after this time. 0: no limit.
BALOO_API_TOKEN_ROLES_MAX_AGE_DAYS = env.int("BALOO_API_TOKEN_ROLES_MAX_AGE_DAYS", default=30)
OIDC_TIMEOUT = env.int("OIDC_TIMEOUT", default=10)  # seconds for each call to the provider
OIDC_VERIFY_SSL = env.bool("OIDC_VERIFY_SSL", default=True)  # off only for a provider on a private test CA
OIDC_STORE_ID_TOKEN = True  # kept to tell the provider whose session to end on sign-out
OIDC_USE_PKCE = True
OIDC_OP_LOGOUT_URL_METHOD = "accounts.oidc.provider_logout_url"
LOGIN_REDIRECT_URL = "/"
LOGIN_REDIRECT_URL_FAILURE = "/oidc/refused/"
LOGOUT_REDIRECT_URL = "/"
# Session and CSRF cookies travel over HTTPS only, outside development.
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# The language choice travels like the session: over HTTPS outside development, on same-site
# requests and top-level links only, and out of scripts' reach (no script in static/ reads a cookie).
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True

# --- Production security (see docs/deploying.md). Everything is on when debug is off. ---
# HTTPS only: plain HTTP is redirected. DJANGO_SECURE_SSL_REDIRECT=false serves plain HTTP, for a
# loopback run or a load test; /healthz answers on plain HTTP for load balancers either way.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Browsers remember to use HTTPS only (a year), subdomains included; the preload flag only allows
# submitting the domain to the browsers' preload list, which is a separate, manual step.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
# Behind a proxy that ends TLS and says so in X-Forwarded-Proto: opt in, and only when the proxy
# always sets (or strips) that header, or a client could claim HTTPS.
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Origins allowed to POST forms when they differ from the host (e.g. https://baloo.example.org behind a proxy).
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Content Security Policy: scripts, styles, fonts and images from this site only; no inline script
# or style, no plugins, no framing. DJANGO_CSP_REPORT_ONLY=true only reports what it would block.
def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


_csp = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        # Signing in and out post forms that redirect to the single sign-on provider: its origins are allowed.
        "form-action": [
            SELF,
            *sorted({_origin(url) for url in (OIDC_OP_ISSUER, OIDC_OP_AUTHORIZATION_ENDPOINT, OIDC_OP_LOGOUT_ENDPOINT) if url}),
        ],
        "frame-ancestors": [NONE],
    }
}
# django-csp's middleware writes the policy: enforced, or (DJANGO_CSP_REPORT_ONLY) only reported.
_csp_report_only = env.bool("DJANGO_CSP_REPORT_ONLY", default=False)
CONTENT_SECURITY_POLICY = None if _csp_report_only else _csp
CONTENT_SECURITY_POLICY_REPORT_ONLY = _csp if _csp_report_only else None
# Rate limits per client ("requests/period", period s, m, h or d; "off" for none): the public API
# per address, the push API per token, sign-in attempts per address. A load test lifts them.
BALOO_RATE_LIMITS = {
    "public_api": env("BALOO_RATE_LIMIT_PUBLIC_API", default="600/m"),
    # The badge and the embeddable chart per address: image proxies (GitHub's camo) and offices fetch
    # them for many readers from one address, so twice the public API's; each badge is cached 5 minutes.
    "embed": env("BALOO_RATE_LIMIT_EMBED", default="1200/m"),
    "push": env("BALOO_RATE_LIMIT_PUSH", default="600/m"),
    "login": env("BALOO_RATE_LIMIT_LOGIN", default="10/m"),
    # Integration requests anyone may post: each is stored for the team to read.
    "public_form": env("BALOO_RATE_LIMIT_PUBLIC_FORM", default="10/h"),
}
# The cache django-ratelimit counts in; when it cannot count, requests go through (see security.py).
RATELIMIT_USE_CACHE = "default"
RATELIMIT_FAIL_OPEN = True
# Behind a proxy every request comes from the proxy's address: name the header holding the
# client's (e.g. HTTP_X_FORWARDED_FOR); its rightmost entry, the one the proxy added, is used.
BALOO_CLIENT_IP_HEADER = env("BALOO_CLIENT_IP_HEADER", default="")

# Push API: the largest request body accepted, in bytes (1,000 records of a few kilobytes each).
BALOO_PUSH_MAX_BYTES = env.int("BALOO_PUSH_MAX_BYTES", default=10 * 1024 * 1024)

# Contributors, help and participation (community app): help pages, glossary, integration requests.
# Where people report a problem or suggest an idea; every page links to it.
BALOO_ISSUE_TRACKER_URL = env("BALOO_ISSUE_TRACKER_URL", default="https://github.com/mozilla/baloo/issues")
# Outgoing e-mail (links confirming a contributor's other addresses): printed on the console in
# development; EMAIL_URL names a server in production, e.g. smtp+tls://user:password@host:587.
vars().update({key: value for key, value in env.email_url("EMAIL_URL", default="consolemail://").items() if value is not None})
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Baloo <baloo@localhost>")
# Seconds to wait for the mail server: one that is down ends on a page that says so, not a hung request.
EMAIL_TIMEOUT = 10
# How long a link confirming a contributor's other e-mail address works, in hours.
BALOO_CLAIM_LINK_MAX_AGE_HOURS = env.int("BALOO_CLAIM_LINK_MAX_AGE_HOURS", default=72)

# Dashboard: the community's goal for the de-duplicated total; unset, the goal is the sum of the areas' goals.
BALOO_SITE_TARGET = env.int("BALOO_SITE_TARGET", default=None)
