"""Players' display names beside the cached boards: loaded with the first build (or after
Redis lost them), set after each commit that changes one, and put right by the sync's
drift check."""

from __future__ import annotations

import logging
import time

import redis
from django.db import transaction

from leaderboards.cache.store import NAMES, BoardStore, get_store, redis_failed, redis_unavailable
from leaderboards.ranking import Page
from players.selectors import player_display_names, player_names_stream

logger = logging.getLogger(__name__)


def cache_names_ensure(store: BoardStore | None = None) -> int | None:
    """Load every player's display name into Redis unless it is loaded (after a flush, say):
    the read scripts answer with them. Returns how many were loaded, None if they were
    there. Safe beside name changes (store.names_load keeps the newer ones)."""
    store = store or get_store()
    if store.names_loaded():
        return None
    started = time.monotonic()
    with transaction.atomic():  # the stream runs through a server-side cursor
        loaded = store.names_load(player_names_stream())
    logger.info("cache names loaded: %d in %.0f ms", loaded, (time.monotonic() - started) * 1000)
    return loaded


def cache_names_set(names: dict[str, str]) -> None:
    """Committed display names to Redis, where the read scripts answer with them; with
    Redis unreachable they wait for the cache sync's drift check."""
    if not names or redis_unavailable():
        return
    where = ""
    try:
        store = get_store()
        where = store.node_name(NAMES)
        if redis_unavailable(where):
            return
        store.names_set(names)
    except redis.RedisError as exc:
        redis_failed(where)
        logger.warning("could not store display names %s: %s", sorted(names)[:10], exc)


def cache_names_repair(store: BoardStore, page: Page) -> int:
    """Set the names Redis answered the page with to PostgreSQL's where they differ;
    returns how many were wrong."""
    if page.names is None:
        return 0
    shown = {s.player_id: page.names.get(s.player_id) or s.player_id for s in page.standings}
    stored = player_display_names(external_ids=list(shown))
    wrong = {
        player_id: "" if stored.get(player_id, player_id) == player_id else stored[player_id]
        for player_id, name in shown.items()
        if stored.get(player_id, player_id) != name
    }
    if wrong:
        logger.warning("display names out of date in Redis for %d players: fixed", len(wrong))
        store.names_set(wrong)
    return len(wrong)
