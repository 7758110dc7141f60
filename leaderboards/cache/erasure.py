"""The Redis side of erasing a player (leaderboards/erasure.py), after the database's
commit: nothing in Redis may hold the id or the display name afterwards.

A player is in Redis as a member (and a field of the times hash) of each cached board
they scored on, in queued batches of boards being built, and as a field of the names
hash, whose value is the name. Every cached board is dropped, as a ban does: a board is
built again from PostgreSQL (which holds nothing of the player any more) on its next read
or by the cache sync, and a batch of the consumer committed before the erasure but applied
after this cannot put the player back, since the rebuilt board's fences cover it
(leaderboards/cache/store/__init__.py). The names hash loses the player's field.
"""

from __future__ import annotations

import logging

import redis

from leaderboards.cache.builds import cache_drop_all
from leaderboards.cache.store import get_store, redis_failed

logger = logging.getLogger(__name__)


def cache_erase_player(*, player_id: str, label: str) -> bool:
    """Take the player out of Redis; False when Redis failed (logged under `label`, never
    the id): erasing the player again does it (leaderboards/erasure.py)."""
    try:
        cache_drop_all()
        get_store().names_forget([player_id])
    except redis.RedisError as exc:
        redis_failed()
        logger.warning("erasure %s: redis not cleaned, erase again to finish: %s", label, exc)
        return False
    return True
