"""Prometheus metrics of the Redis board cache, counted where reads meet it
(`leaderboards.cache.read_through.cached_read`) and by the cache-sync task. The read
counters live in the web process's default registry, so django-prometheus serves them at
the web app's /metrics; the cache-sync counter lives in the Celery worker, which serves it on
WORKER_METRICS_PORT (config/celery_app.py).

A hit is a read Redis answered at once; a miss found the board absent (or building) and
tried to build it, with the build's outcome in `leaderboards_cache_rebuilds_total`;
a fallback is a read sent to PostgreSQL because Redis failed just now (`redis_error`) or
did a few seconds ago (`redis_backoff`).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CACHE_HITS = Counter("leaderboards_cache_hits", "Board reads answered by Redis at once.")
CACHE_MISSES = Counter(
    "leaderboards_cache_misses", "Board reads that found the board not cached (or building)."
)
CACHE_REBUILDS = Counter(
    "leaderboards_cache_rebuilds",
    "Board builds started by a read, by outcome (ready, busy, cached, superseded, stale, "
    "in_transaction).",
    ["outcome"],
)
CACHE_FALLBACKS = Counter(
    "leaderboards_cache_fallbacks",
    "Board reads answered from PostgreSQL because Redis is unavailable.",
    ["reason"],
)

CACHE_SYNC = Counter(
    "leaderboards_cache_sync_boards",
    "Boards the cache-sync task warmed, evicted (finalised) or found drifted from PostgreSQL "
    "and rebuilt.",
    ["action"],
)

# The delta log's retention (leaderboards/postgres/partitions.py), in the Celery worker.
DELTA_PARTITIONS_DROPPED = Counter(
    "leaderboards_delta_partitions_dropped",
    "Weekly partitions of the delta log dropped past DELTA_RETENTION_DAYS.",
)
DELTA_ROWS_DROPPED = Counter(
    "leaderboards_delta_rows_dropped",
    "Deltas dropped past the retention (estimated from the partitions' statistics).",
)
DELTA_PARTITIONS_KEPT = Gauge(
    "leaderboards_delta_partitions_kept",
    "Partitions past the retention kept at the last run (not rolled up yet, an open board "
    "needs them, or the log was busy).",
)

fallback_redis_error = CACHE_FALLBACKS.labels("redis_error")
fallback_redis_backoff = CACHE_FALLBACKS.labels("redis_backoff")
