"""Celery, and the timings of boards: finalisation, retention, the cache sync, how stale a
definition may be, builds, the micro-cache; how long rejected events are kept."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int
from config.settings.base import REDIS_CLUSTER, REDIS_URL

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

# Rejected events keep raw payloads (player ids, names): the periodic `rejected-events-prune`
# task deletes those received more than this many days ago, in batches. 0 keeps them.
REJECTED_EVENTS_RETENTION_DAYS = env_int("REJECTED_EVENTS_RETENTION_DAYS", 30, minimum=0)
