"""The Redis leaderboard store: one sorted set per cached board.

The store is a package by role: keys.py (the key schema: read it first), scripts.py (the
Lua of leaderboards/cache/lua/, loaded once), client.py (the client, per-thread read
connections and the breaker), routing.py (nodes and pipelines on a cluster), encoding.py
(scores and members as stored), reads.py, writes.py, names.py and catalog.py. BoardStore
puts them together; `get_store()` is the process-wide one.

With `REDIS_CLUSTER` on, the store talks to redis-py's RedisCluster: each script touches the
keys of one board (one slot), the consumer's batch goes out as one pipeline per node, and a
node that does not answer costs only the boards in its slots (see `redis_failed`).

Why fences: a build reads PostgreSQL while the consumer keeps committing. The snapshot is
taken together with the consumer offsets it covers (they are written in the same
transaction as the deltas), and the consumer sends each batch as per-partition units
`[partition, from_offset, to_offset, values]`. A unit whose range the snapshot already
covers is skipped, one that starts exactly at the fence is applied and moves it, and any
other (a gap: a consumer killed between its commit and its Redis step, a lost write) marks
the board stale and it is built again from PostgreSQL. Batches that arrive during a build
are queued and replayed through the same check when the build finishes, all inside Lua
scripts, so nothing is lost or counted twice.

A set is only ever replaced, never emptied first. A stale board keeps its set, which holds
every partition up to its fence (what a reader would see had that partition's consumer
merely lagged), frozen and shown with `Page.stale` set while it is rebuilt. A rebuild of a
ready or stale board (the drift check's forced one, a stale one's) builds beside it; if the
snapshot fails (PostgreSQL down) the old set serves on, caught up from the queue when its
fences allow. So a cached board never sends readers to PostgreSQL for the cache's own
bookkeeping: only a board never built, or dropped for a new definition, does.

Scores are stored so that ascending Redis order is board order: negated for `desc` boards.
Ties then fall in member byte order. A member is the player's external id, the tie order
PostgreSQL uses too; on an `earliest` board it is the time the score was reached (epoch
ms, REACHED_WIDTH digits) followed by the external id, so equal scores fall in the order
they were reached, and ranks are places (ZRANK + 1).
"""

from __future__ import annotations

import redis
from redis.cluster import RedisCluster

from leaderboards.cache.store import scripts
from leaderboards.cache.store.catalog import CatalogStorage
from leaderboards.cache.store.client import (
    connect,
    redis_breaker_reset,
    redis_failed,
    redis_unavailable,
)
from leaderboards.cache.store.encoding import Unit, reached_member
from leaderboards.cache.store.keys import (
    CACHED_COPIES,
    CACHED_SET,
    CATALOG,
    NAMES,
    BoardKeys,
    definition,
    spread_tags,
)
from leaderboards.cache.store.names import NamesStorage
from leaderboards.cache.store.reads import BoardReads
from leaderboards.cache.store.scripts import load_script
from leaderboards.cache.store.writes import BUILD_CHUNK, MAX_PENDING_BATCHES, BoardWrites

__all__ = [
    "BUILD_CHUNK",
    "CATALOG",
    "MAX_PENDING_BATCHES",
    "NAMES",
    "BoardKeys",
    "BoardStore",
    "Unit",
    "definition",
    "get_store",
    "load_script",
    "reached_member",
    "redis_breaker_reset",
    "redis_failed",
    "redis_unavailable",
    "reset_store",
    "spread_tags",
]


class BoardStore(BoardReads, BoardWrites, NamesStorage, CatalogStorage):
    """Redis-side operations on cached boards: apply, top, ranks, around, build, drop; the
    display names and the definitions catalog beside them."""

    def __init__(self, client: redis.Redis | RedisCluster) -> None:
        super().__init__(client)
        self._cached_sets = (
            [f"{CACHED_SET}:{{{tag}}}" for tag in spread_tags(CACHED_COPIES)]
            if self.cluster
            else [CACHED_SET]
        )
        # On a single Redis the read scripts answer with the names; on a cluster they
        # cannot reach the names hash's slot (names_get.lua, a second call).
        self._names_key = [] if self.cluster else [NAMES]
        self._names_get = client.register_script(scripts.NAMES_GET)
        self._apply = client.register_script(scripts.APPLY)
        self._begin = client.register_script(scripts.BEGIN_BUILD)
        self._finish = client.register_script(scripts.FINISH_BUILD)
        self._abandon = client.register_script(scripts.ABANDON_BUILD)
        self._top = client.register_script(scripts.TOP)
        self._around = client.register_script(scripts.AROUND)
        self._ranks = client.register_script(scripts.RANKS)
        self._names_load = client.register_script(scripts.NAMES_LOAD)
        self._catalog_fill = client.register_script(scripts.CATALOG_FILL)


_store: BoardStore | None = None


def get_store() -> BoardStore:
    """The process-wide store."""
    global _store
    if _store is None:
        _store = BoardStore(connect())
    return _store


def reset_store() -> None:
    """Forget the client (tests point REDIS_URL elsewhere; forked workers need their own)."""
    global _store
    _store = None
