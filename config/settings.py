"""Settings, every deploy-time value from the environment, read strictly (config/env.py): a
value that cannot be read stops start-up, naming the variable.

Unset service URLs fall back to the embedded services `make run` starts (see
`devtools/embedded/`), so a fresh clone runs with no configuration at all.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_choice,
    env_int,
    env_ip_address,
    env_list,
    env_ports,
    env_rate,
)
from config.logging import logging_settings
from config.spectacular import spectacular_settings

BASE_DIR = Path(__file__).resolve().parent.parent

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
# REDIS_URL names one node of a Redis Cluster: the board store (leaderboards/cache/store.py)
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

KAFKA_BOOTSTRAP_SERVERS = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or DEFAULT_KAFKA_BOOTSTRAP
KAFKA_TOPIC = os.environ.get("KAFKA_TOPIC", "score-events")
KAFKA_CONSUMER_GROUP = os.environ.get("KAFKA_CONSUMER_GROUP", "leaderboards")
KAFKA_TOPIC_PARTITIONS = env_int("KAFKA_TOPIC_PARTITIONS", 6, minimum=1)
KAFKA_TOPIC_REPLICATION = env_int("KAFKA_TOPIC_REPLICATION", 1, minimum=1)
# Producers ask Kafka for a producer id and number their batches, so a retry is written
# once (ingestion/kafka.py). Off only for a broker without idempotent producers.
KAFKA_PRODUCER_IDEMPOTENCE = env_bool("KAFKA_PRODUCER_IDEMPOTENCE", True)
# How long the group waits for a silent consumer before handing its partitions to the
# others (a killed consumer holds them that long). Joining a group takes about a third of
# it on the embedded broker.
KAFKA_SESSION_TIMEOUT_MS = env_int("KAFKA_SESSION_TIMEOUT_MS", 10_000, minimum=1)
# How the group shares partitions (librdkafka's partition.assignment.strategy).
# cooperative-sticky moves only the partitions that change hands on a rebalance; a group
# cannot mix it with the eager ones (range, roundrobin), so switching means stopping every
# consumer of the group first.
KAFKA_ASSIGNMENT_STRATEGY = env_choice(
    "KAFKA_ASSIGNMENT_STRATEGY",
    "cooperative-sticky",
    ("cooperative-sticky", "range,roundrobin", "range", "roundrobin"),
)

# Ingestion: the consumer's batch size and how long it waits to fill one.
INGEST_BATCH_SIZE = env_int("INGEST_BATCH_SIZE", 5000, minimum=1)
INGEST_BATCH_TIMEOUT_MS = env_int("INGEST_BATCH_TIMEOUT_MS", 200, minimum=0)
# Events stamped further in the future than this are rejected.
INGEST_MAX_CLOCK_SKEW_SECONDS = env_int("INGEST_MAX_CLOCK_SKEW_SECONDS", 300, minimum=0)
# Larger deltas are rejected as absurd (a protection against bugs in game servers).
INGEST_MAX_ABS_DELTA = env_int("INGEST_MAX_ABS_DELTA", 1_000_000_000, minimum=1)
# A message that still makes the consumer raise (a bug, not bad input and not a database
# outage) is tried alone this many times, then stored as a rejected event (consumer.py).
INGEST_MAX_ATTEMPTS = env_int("INGEST_MAX_ATTEMPTS", 3, minimum=1)

# The consumer serves its Prometheus metrics on this port (0: no metrics server), or on
# the first free one of a range ("9110-9119"): several consumers on one host each take one.
CONSUMER_METRICS_PORTS = env_ports("CONSUMER_METRICS_PORT", "9108")
# The Celery worker serves its metrics (cache sync) here (0: none).
WORKER_METRICS_PORT = env_int("WORKER_METRICS_PORT", 9109, minimum=0)
# The address the consumer's and the worker's metrics servers listen on (config/metrics.py).
# Production listens on every interface, for Prometheus in another pod or container;
# `make run` (DJANGO_DEBUG) on loopback, so a laptop does not serve them to its network.
METRICS_BIND_ADDRESS = env_ip_address("METRICS_BIND_ADDRESS", "127.0.0.1" if DEBUG else "0.0.0.0")

# Celery: Redis is the broker unless told otherwise; the schedule is in config/celery_app.py.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or (
    CELERY_BROKER_URL if REDIS_CLUSTER else REDIS_URL
)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Keep the project's logging (JSON in production) in the worker too.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Time limits per task run, so a stuck task (a hung connection, a lock that never comes)
# frees its worker instead of holding it for ever. The longest task is rollups_advance
# (timings: docs/benchmarks.md, Periodic tasks). 300 s leaves room for a long backlog after
# an outage. At the soft limit the task gets SoftTimeLimitExceeded: its open transaction
# rolls back, what it committed stays (rollups_advance commits chunk by chunk), and the
# next scheduled run carries on (every task is safe to repeat). The hard limit, a minute
# later, kills a run that did not stop. Only the prefork pool (the default, production)
# enforces them; the threads pool of `make run` does not.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360, minimum=1)
if CELERY_TASK_SOFT_TIME_LIMIT >= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured(
        f"CELERY_TASK_SOFT_TIME_LIMIT={CELERY_TASK_SOFT_TIME_LIMIT} must be below "
        f"CELERY_TASK_TIME_LIMIT={CELERY_TASK_TIME_LIMIT}, or the soft limit never fires."
    )

# Late events still count for this long after a window ends; then its results freeze.
LEADERBOARD_FINALIZE_GRACE_SECONDS = env_int("LEADERBOARD_FINALIZE_GRACE_SECONDS", 600, minimum=0)
# Days of raw deltas kept (weekly partitions, leaderboards/postgres/partitions.py); 0 keeps all.
DELTA_RETENTION_DAYS = env_int("DELTA_RETENTION_DAYS", 90, minimum=0)
# The cache sync (Celery beat, every LEADERBOARD_CACHE_SYNC_SECONDS) compares this many cached
# boards with PostgreSQL, in turn by id, so a drifted board is found within
# ceil(cached boards / LEADERBOARD_DRIFT_CHECKS_PER_SYNC) syncs.
LEADERBOARD_CACHE_SYNC_SECONDS = env_int("LEADERBOARD_CACHE_SYNC_SECONDS", 30, minimum=1)
LEADERBOARD_DRIFT_CHECKS_PER_SYNC = env_int("LEADERBOARD_DRIFT_CHECKS_PER_SYNC", 10, minimum=0)

# How long a process may go on using its copy of a definition before reading it again: an
# edit (in the admin, or by the API) reaches every other process within this. The process
# that made the edit forgets its copies at once (leaderboards/signals.py). Read in one
# place, config/staleness.py, with the micro-cache's and the cache sync's below.
# - readers (web), a board's or series' definition (leaderboards/cache/catalog.py);
LEADERBOARD_CATALOG_MAX_AGE_MS = env_int("LEADERBOARD_CATALOG_MAX_AGE_MS", 1000, minimum=0)
# - the consumer, the boards it checks each batch against: cached boards' definitions,
#   tournament rules, finalised windows (leaderboards/cache/apply.py, tournaments.py,
#   postgres/deltas.py).
LEADERBOARD_CONSUMER_BOARDS_MAX_AGE_MS = env_int(
    "LEADERBOARD_CONSUMER_BOARDS_MAX_AGE_MS", 5000, minimum=0
)

# Redis leaderboard store: how long a board may stay "building" before it counts as dead.
LEADERBOARD_BUILD_TIMEOUT_SECONDS = env_int("LEADERBOARD_BUILD_TIMEOUT_SECONDS", 120, minimum=1)
# How long a process serves its rendered answer to a shared page (a board's entries, the
# board, a series' current entries) again (leaderboards/api/response_cache.py); 0: never. Under
# a second, so a consumed event stays visible within the freshness SLO.
LEADERBOARD_RESPONSE_CACHE_MS = env_int("LEADERBOARD_RESPONSE_CACHE_MS", 250, minimum=0)
if LEADERBOARD_RESPONSE_CACHE_MS >= 1000:
    raise ImproperlyConfigured(
        f"LEADERBOARD_RESPONSE_CACHE_MS={LEADERBOARD_RESPONSE_CACHE_MS} must be under 1000: "
        "a consumed event must be visible to readers within a second."
    )

# The largest request body accepted (413 beyond, config/middleware.py): 1,000 events of a
# few hundred bytes, the most one POST /events/ takes, fit many times over.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BODY_BYTES", 1024 * 1024, minimum=1)

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

# Rate limits (config/throttling.py), "N/second|minute|hour|day" or "off": reads per client
# IP, writes per API key. The client IP is the address TRUSTED_PROXY_HOPS hops from the
# right of X-Forwarded-For (0: the connection's own address, for a service facing clients
# directly). Set it to the number of proxies in front of the app that append to the header.
THROTTLE_READ_RATE = env_rate("THROTTLE_READ_RATE", "1200/minute")
THROTTLE_WRITE_RATE = env_rate("THROTTLE_WRITE_RATE", "6000/minute")
TRUSTED_PROXY_HOPS = env_int("TRUSTED_PROXY_HOPS", 0, minimum=0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    # Reads are public; every write needs `Authorization: Api-Key <key>` with the view's
    # scope (access/permissions.py).
    "DEFAULT_PERMISSION_CLASSES": ["access.permissions.ReadOnlyOrScopedApiKey"],
    "DEFAULT_THROTTLE_CLASSES": [
        "config.throttling.ReadRateThrottle",
        "config.throttling.WriteRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {"reads": THROTTLE_READ_RATE, "writes": THROTTLE_WRITE_RATE},
    "NUM_PROXIES": TRUSTED_PROXY_HOPS,
    "DEFAULT_PAGINATION_CLASS": "config.pagination.Pagination",
    "PAGE_SIZE": 50,  # config.pagination.DEFAULT_PAGE_SIZE (DRF checks that one is set)
    "DEFAULT_RENDERER_CLASSES": ["config.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "config.negotiation.ContentNegotiation",
    # DRF's three, JSON's nesting bounded (config/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # One error path: services' ValidationError, Http404 and ServiceUnavailable included.
    "EXCEPTION_HANDLER": "config.exceptions.exception_handler",
}

# The OpenAPI schema (/api/schema/) and its Swagger UI (/api/docs/): config/spectacular.py.
SPECTACULAR_SETTINGS = spectacular_settings(static_url=STATIC_URL)

# Logs: readable lines under `make run` (DEBUG), one JSON object per line in production;
# LOG_FORMAT=plain|json overrides. Every line carries the fields of config.logging's
# context (request_id, batch_id, ...), which ContextFilter on the handler puts there.
LOG_FORMAT = env_choice("LOG_FORMAT", "plain" if DEBUG else "json", ("plain", "json"))
# The level names logging knows (DEBUG, INFO, WARNING, ...), in any case.
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", tuple(logging.getLevelNamesMapping()))
LOGGING = logging_settings(log_format=LOG_FORMAT, log_level=LOG_LEVEL)

# ---------------------------------------------------------------------------------------
# Promotions (issue 21): cross-origin reads of the public API and rejected-event retention.
# Kept in one block at the end so it merges apart from the rest of this module.

# Origins (scheme://host[:port]) whose pages may read the public API from the browser
# (config/cors.py): GET and HEAD of boards, standings, players and series only. Empty: off.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
for _origin in CORS_ALLOWED_ORIGINS:
    if not re.fullmatch(r"https?://[^/?#\s]+", _origin):
        raise ImproperlyConfigured(
            f"CORS_ALLOWED_ORIGINS: {_origin!r} is not an origin: use scheme://host[:port], "
            "e.g. https://promo.example.com, without a path or a trailing slash."
        )
CORS_URLS_REGEX = r"^/api/v1/(leaderboards|standings|players|series)/"
CORS_ALLOW_METHODS = ("GET", "HEAD", "OPTIONS")
CORS_ALLOW_HEADERS = ("accept", "accept-language", "content-language", "if-none-match")
CORS_EXPOSE_HEADERS = ("ETag", "Retry-After", "X-Request-ID")
CORS_ALLOW_CREDENTIALS = False
INSTALLED_APPS.append("corsheaders")
# Outside the database-outage answer, so a 503 reaches the promotion page readable.
MIDDLEWARE.insert(
    MIDDLEWARE.index("config.middleware.RequestIdMiddleware") + 1,
    "config.cors.PublicReadCorsMiddleware",
)

# Rejected events keep raw payloads (player ids, names): the periodic `rejected-events-prune`
# task deletes those received more than this many days ago, in batches. 0 keeps them.
REJECTED_EVENTS_RETENTION_DAYS = env_int("REJECTED_EVENTS_RETENTION_DAYS", 30, minimum=0)

# ---------------------------------------------------------------------------------------
# Webhooks and cacheable reads (issue 22). Kept in one block at the end.

INSTALLED_APPS += ["webhooks"]

# Shared reads (a board's entries, the board, a series' current entries) may be kept by
# browsers and CDNs this long (`Cache-Control: public, max-age`), then revalidated with
# their ETag (config/http_caching.py). What a reader sees is then up to this old, on top of
# the consumer's apply and the micro-cache (LEADERBOARD_RESPONSE_CACHE_MS): with the
# defaults, about 1.25 s at worst behind a cache, against the 1 s freshness budget of
# readers that ask the service; 0 keeps every reader within it. Other API answers are
# `private, no-store`.
LEADERBOARD_HTTP_MAX_AGE_SECONDS = env_int("LEADERBOARD_HTTP_MAX_AGE_SECONDS", 1, minimum=0)
MIDDLEWARE += ["config.http_caching.PrivateApiAnswersMiddleware"]

# Webhooks (webhooks/, docs/webhooks.md). An attempt waits this long to connect and again
# for the answer; no answer in time is a failure, retried.
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
# Retries wait WEBHOOK_RETRY_BASE_SECONDS, then twice as long each time (the first retry
# within 30 s), at most WEBHOOK_RETRY_MAX_DELAY_SECONDS; a message not delivered within
# WEBHOOK_RETRY_FOR_SECONDS of its first attempt is marked failed.
WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 10, minimum=0)
WEBHOOK_RETRY_MAX_DELAY_SECONDS = env_int("WEBHOOK_RETRY_MAX_DELAY_SECONDS", 3600, minimum=0)
WEBHOOK_RETRY_FOR_SECONDS = env_int("WEBHOOK_RETRY_FOR_SECONDS", 86_400, minimum=0)
# An endpoint without a 2xx answer for this long is disabled at its next failed attempt.
WEBHOOK_DISABLE_AFTER_SECONDS = env_int("WEBHOOK_DISABLE_AFTER_SECONDS", 86_400, minimum=0)
# Webhooks go to public addresses only (webhooks/addresses.py); 1 lets them reach loopback
# and private networks too: tests, and receivers on the service's own network.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)
# One name in the OpenAPI schema for the events an endpoint takes and an attempt carried.
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    **SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"],  # type: ignore[dict-item]
    "WebhookEventEnum": "webhooks.models.Event",
}
