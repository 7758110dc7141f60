"""Builds and drops of cached boards: a board's snapshot loaded into Redis, fenced by the
consumer offsets it covers (leaderboards/cache/store/__init__.py says why), and dropped
after a commit when its definition changed."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator

import redis
from django.conf import settings
from django.db import connection, transaction

from leaderboards.cache.names import cache_names_ensure
from leaderboards.cache.store import get_store
from leaderboards.models import Board
from leaderboards.postgres.deltas import offsets_for_topic
from leaderboards.postgres.standings import standings_stream
from leaderboards.ranking import Window

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def snapshot() -> Iterator[dict[int, int]]:
    """A REPEATABLE READ transaction whose first query reads the consumer offsets: every
    query inside it sees the delta log exactly as those offsets left it."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield offsets_for_topic(topic=settings.KAFKA_TOPIC)


@contextlib.contextmanager
def unless_redis_fails(what: str) -> Iterator[None]:
    """Run a step of a build or the sync, or skip the rest of it (logged) when Redis (a
    node of it, on a cluster) fails it: the other steps still run."""
    try:
        yield
    except redis.RedisError as exc:
        logger.warning("cache could not %s: redis: %s", what, exc)


def cache_build_board(board: Board, *, force: bool = False) -> str:
    """Load a board into Redis from a PostgreSQL snapshot, fenced by the consumer offsets
    the snapshot covers (see leaderboards/cache/store.py). Returns the outcome: ready, busy
    (another build runs), cached (already there), superseded or stale. A board readers are
    shown (ready when forced, or stale) goes on being shown until the new set is swapped
    in, and after a failed build."""
    if connection.in_atomic_block:
        # The snapshot needs a transaction of its own (REPEATABLE READ must be set before
        # its first query); inside the caller's, leave the board to PostgreSQL reads.
        return "in_transaction"
    store = get_store()
    token = uuid.uuid4().hex
    if not store.begin_build(board, token, force=force):
        return "busy" if store.state(board) == "building" else "cached"
    started = time.monotonic()
    try:
        # Names are an extra of a build: without them (their node down, on a cluster)
        # reads name players from PostgreSQL, and the board is still built.
        with unless_redis_fails("load display names"):
            cache_names_ensure(store)
        with snapshot() as fences:
            loaded = store.load_build(board, standings_stream(Window.of_board(board)))
        outcome = store.finish_build(board, token, fences)
    except Exception:
        store.abandon_build(board, token)
        raise
    logger.info(
        "cache build board=%s players=%d outcome=%s in %.0f ms",
        board.slug,
        loaded,
        outcome,
        (time.monotonic() - started) * 1000,
    )
    return outcome


def cache_drop_board(board_id: int) -> None:
    get_store().drop(board_id)


def cache_drop_board_on_commit(board_id: int) -> None:
    """Drop the board's cached copy once the caller's transaction commits: a read between
    a drop and the commit would rebuild it from the old definition. With Redis down there
    is nothing to drop; the board is built again when Redis is back."""

    def drop() -> None:
        try:
            cache_drop_board(board_id)
        except redis.RedisError as exc:
            logger.warning("could not drop the cache of board %s: %s", board_id, exc)

    transaction.on_commit(drop)


def cache_drop_all() -> None:
    """Forget every cached board; reads rebuild them from PostgreSQL."""
    store = get_store()
    for board_id in store.cached_board_ids():
        store.drop(board_id)
