"""The read-through that selectors use: Redis first; on a miss, None (ask PostgreSQL, whose
rollups answer fast) while the board is built in the background; None as well when Redis
is down, backing off for a few seconds so no request waits on a dead cache."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis
from django.db import connection

from leaderboards import metrics
from leaderboards.cache.builds import cache_build_board
from leaderboards.cache.store import BoardStore, get_store, redis_failed, redis_unavailable
from leaderboards.models import Board
from leaderboards.ranking import Page

logger = logging.getLogger(__name__)


# Inline builds block the read that misses; tests that check reads served from Redis
# turn it on, production leaves it off.
build_inline = False
_builds: dict[int, threading.Thread] = {}


def cached_read(board: Board, read: Callable[[BoardStore], Page | None]) -> Page | None:
    """Run `read(store)` against Redis. None means: answer from PostgreSQL, because the
    board is not cached (it is being built in the background) or Redis is down. A stale
    answer (a board frozen after a gap) is returned, and the board rebuilt behind it."""
    if redis_unavailable():  # all of Redis ("" is all of it on a single Redis)
        metrics.fallback_redis_backoff.inc()
        return None
    where = ""
    try:
        store = get_store()
        where = store.board_node(board)
        if where and redis_unavailable(where):  # on a cluster: the board's node
            metrics.fallback_redis_backoff.inc()
            return None
        result = read(store)
        if result is not None:
            metrics.CACHE_HITS.inc()
            if result.stale and not connection.in_atomic_block:
                # Frozen at an older consistent state: shown (PostgreSQL may be down), and
                # built again beside it, in the background even for tests' inline builds.
                cache_build_in_background(board)
            return result
        metrics.CACHE_MISSES.inc()
        if not build_inline:
            if not connection.in_atomic_block:  # else the build could not see its writes
                cache_build_in_background(board)
            return None
        outcome = cache_build_board(board)
        metrics.CACHE_REBUILDS.labels(outcome).inc()
        return read(store) if outcome == "ready" else None
    except redis.RedisError as exc:
        redis_failed(where)
        metrics.fallback_redis_error.inc()
        logger.warning("redis unavailable, reading board %s from PostgreSQL: %s", board.slug, exc)
        return None


def cache_build_in_background(board: Board) -> threading.Thread:
    """Build the board in a thread of this process, unless one already is (builds in other
    processes are fenced off by the store: only one runs)."""
    running = _builds.get(board.pk)
    if running is not None and running.is_alive():
        return running
    thread = threading.Thread(
        target=_build_in_thread, args=(board,), name=f"cache-build-{board.pk}", daemon=True
    )
    _builds[board.pk] = thread
    thread.start()
    return thread


def _build_in_thread(board: Board) -> None:
    try:
        outcome = cache_build_board(board)
        metrics.CACHE_REBUILDS.labels(outcome).inc()
    except Exception:
        logger.exception("background cache build of board %s failed", board.slug)
    finally:
        connection.close()  # the thread's own


def cache_builds_wait(timeout: float = 30.0) -> None:
    """Wait for this process's background builds to finish (tests, shutdown)."""
    deadline = time.monotonic() + timeout
    for thread in list(_builds.values()):
        thread.join(max(0.0, deadline - time.monotonic()))
