"""Django itself: secrets and hosts, HTTPS, apps and middleware, templates, PostgreSQL,
Redis and Django's cache, the admin's login limits, static files, logs."""

from __future__ import annotations

import importlib.util
import logging
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
)
from config.logging import logging_settings

BASE_DIR = Path(__file__).resolve().parents[2]

# The embedded services of `make run`, on devtools/embedded/'s DEFAULT_PORTS: written out,
# not imported, so production never imports that module (tests/devtools/test_embedded.py checks
# that the two agree).
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:55432/leaderboards"
DEFAULT_REDIS_URL = "redis://127.0.0.1:56379/0"
DEFAULT_KAFKA_BOOTSTRAP = "127.0.0.1:59092"

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or ("insecure-local-only-key" if DEBUG else None)
if SECRET_KEY is None:
    raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (or DJANGO_DEBUG=1 for local development).")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# HTTPS. Production serves behind a proxy or load balancer that terminates TLS and says so
# in X-Forwarded-Proto (DJANGO_SECURE_PROXY_SSL_HEADER names another header; "off" trusts
# none, for a service that terminates TLS itself). Plain-HTTP requests are redirected to
# HTTPS, except the probes and the metrics scrape, which come from inside the cluster.
# Off under DEBUG (`make run` serves plain HTTP on localhost).
_proxy_ssl_header = os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto").strip()
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
    if _proxy_ssl_header.lower() not in ("", "off", "none")
    else None
)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^(healthz|readyz|metrics)$"]
# HSTS: browsers keep to HTTPS for a year. Preload and subdomains are on, as check --deploy
# wants; turn them off (or the seconds down) before the first deploy on a domain whose
# subdomains are not all HTTPS yet.
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
# The admin's session and CSRF cookies travel over HTTPS only.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "rest_framework",
    "rest_framework_api_key",
    "axes",
    "access",
    "drf_spectacular",
    "players",
    "leaderboards",
    "ingestion",
    "webhooks",
    "corsheaders",
]
# The workbench (devtools/: the benchmarks' commands) in development only: on by default
# under DEBUG where the package exists, never in production, whose image does not ship it
# (tests/devtools/test_not_shipped.py).
DEVTOOLS = env_bool("DJANGO_DEVTOOLS", DEBUG and importlib.util.find_spec("devtools") is not None)
if DEVTOOLS:
    INSTALLED_APPS.append("devtools")

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Early, so every later log line of the request (and every response) carries its id.
    "config.middleware.RequestIdMiddleware",
    # Cross-origin reads of the public API (config/cors.py), outside the database-outage
    # answer so a 503 reaches a promotion page readable.
    "config.cors.PublicReadCorsMiddleware",
    # A view that needed PostgreSQL while it was down answers 503 + Retry-After.
    "config.middleware.DatabaseUnavailableMiddleware",
    # A body over MAX_REQUEST_BODY_BYTES: 413 before anything reads it; a stalled one, 408;
    # a chunked one, 411; a query string of too many parameters, 400.
    "config.middleware.RequestLimitsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Admin logins: locks out an address after too many failures (see AXES_* below).
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # API answers that are not shared reads: `Cache-Control: private, no-store`.
    "config.http_caching.PrivateApiAnswersMiddleware",
]

ROOT_URLCONF = "config.urls"
# Under /api/ a CSRF refusal is the API's JSON error, as are Django's other error answers
# (config/urls.py's handlers); the site's pages stay HTML.
CSRF_FAILURE_VIEW = "config.errors.csrf_failure"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
# libpq waits forever for a server that takes the connection but never answers; bounded, a
# readiness probe or a consumer retry fails in seconds instead. A URL's ?connect_timeout=
# wins.
DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
    "connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5, minimum=0)
)
# Behind PgBouncer in transaction pooling mode (docs/production.md, PgBouncer) each transaction may
# run on another server session. QuerySet.iterator() outside a transaction declares a WITH
# HOLD cursor in one and fetches from it in the next, which then finds no such cursor (the
# admin's select widgets do this), so Django's server-side cursors are off everywhere: the
# streams that need one (standings, exports, display names) open psycopg's own inside their
# transaction. Prepared statements are Django's default, off (pgbouncer 1.18 has none).
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True

REDIS_URL = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
# REDIS_URL names one node of a Redis Cluster: the board store (leaderboards/cache/store/)
# then uses redis-py's RedisCluster and finds the other nodes itself.
REDIS_CLUSTER = env_bool("REDIS_CLUSTER", False)
# Django's cache (and the rate limits built on it) needs a plain Redis, as Celery's broker
# does: neither speaks Cluster, so with REDIS_CLUSTER on they must name one.
CACHE_REDIS_URL = os.environ.get("CACHE_REDIS_URL") or REDIS_URL
_plain_redis_unset = [
    name for name in ("CACHE_REDIS_URL", "CELERY_BROKER_URL") if not os.environ.get(name)
]
if REDIS_CLUSTER and _plain_redis_unset:
    raise ImproperlyConfigured(
        f"REDIS_CLUSTER=1 needs {' and '.join(_plain_redis_unset)} set to a plain (non-cluster) "
        "Redis: Django's cache and Celery cannot use the cluster that REDIS_URL names."
    )
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": CACHE_REDIS_URL,
        "OPTIONS": {
            "SOCKET_CONNECT_TIMEOUT": 1,
            "SOCKET_TIMEOUT": 1,
            # A cache outage must never fail a request.
            "IGNORE_EXCEPTIONS": True,
        },
    }
}
DJANGO_REDIS_IGNORE_EXCEPTIONS = True
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True

# Password guessing at the admin login: django-axes counts failed logins per client
# address (the API's, config/throttling.client_ip) in PostgreSQL and refuses that address
# with a 429 for ADMIN_LOGIN_LOCKOUT_MINUTES after ADMIN_LOGIN_FAILURE_LIMIT failures; a
# success resets the count. By address alone, so a guesser cannot lock an admin out from
# elsewhere. `manage.py axes_reset` lifts every lockout.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ADMIN_LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "config.throttling.client_ip"
AXES_VERBOSE = False  # no banner in every process's log; lockouts are still logged

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# config/static/ holds vendored third-party assets (Swagger UI for /api/docs/).
STATICFILES_DIRS = [BASE_DIR / "static", BASE_DIR / "config" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Logs: readable lines under `make run` (DEBUG), one JSON object per line in production;
# LOG_FORMAT=plain|json overrides. Every line carries the fields of config.logging's
# context (request_id, batch_id, ...), which ContextFilter on the handler puts there.
LOG_FORMAT = env_choice("LOG_FORMAT", "plain" if DEBUG else "json", ("plain", "json"))
# The level names logging knows (DEBUG, INFO, WARNING, ...), in any case.
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", tuple(logging.getLevelNamesMapping()))
LOGGING = logging_settings(log_format=LOG_FORMAT, log_level=LOG_LEVEL)
