"""How stale each kind of copy of a definition may get before it is read again: the one
module that reads these settings (config/settings/ sets them from the environment).

An edit of a board or a series (in the admin, or by the API) is seen by the process that
made it at once (leaderboards/signals.py forgets its copies), and by every other process
within the age of the copy it holds:

- a reader's board or series definition (leaderboards/cache/catalog.py):
  `LEADERBOARD_CATALOG_MAX_AGE_MS`;
- the consumer's boards, which it checks each batch against: cached boards' definitions,
  tournament rules, finalised windows (leaderboards/cache/apply.py,
  leaderboards/tournaments.py, leaderboards/postgres/deltas.py):
  `LEADERBOARD_CONSUMER_BOARDS_MAX_AGE_MS`;
- a rendered page of the API's micro-cache (leaderboards/api/response_cache.py):
  `LEADERBOARD_RESPONSE_CACHE_MS`;
- the Redis catalog and the cached boards themselves, put right by the periodic cache sync
  (config/celery_app.py): `LEADERBOARD_CACHE_SYNC_SECONDS`.

Read at each call, so a test overrides the setting (pytest-django's `settings` fixture,
`override_settings`) and nothing else.
"""

from __future__ import annotations

from django.conf import settings


def catalog_max_age() -> float:
    """Seconds a process reads a board's or series' definition from its own copy."""
    return settings.LEADERBOARD_CATALOG_MAX_AGE_MS / 1000


def consumer_boards_max_age() -> float:
    """Seconds the consumer checks batches against its copy of the boards."""
    return settings.LEADERBOARD_CONSUMER_BOARDS_MAX_AGE_MS / 1000


def response_cache_ttl() -> float:
    """Seconds a process serves a rendered shared page again (0: never)."""
    return settings.LEADERBOARD_RESPONSE_CACHE_MS / 1000


def cache_sync_interval() -> float:
    """Seconds between two runs of the cache sync."""
    return float(settings.LEADERBOARD_CACHE_SYNC_SECONDS)
