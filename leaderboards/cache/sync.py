"""The periodic cache sync (a Celery task every LEADERBOARD_CACHE_SYNC_SECONDS): rewrite
the definitions catalog, load display names if Redis lost them, warm live boards (building
those a Redis restart dropped), evict finalised ones, and compare a turn of cached boards
with PostgreSQL, rebuilding any that drifted."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils.timezone import now as timezone_now

from leaderboards import metrics
from leaderboards.cache.builds import (
    cache_build_board,
    snapshot,
    unless_redis_fails,
)
from leaderboards.cache.catalog import catalog
from leaderboards.cache.names import cache_names_ensure, cache_names_repair
from leaderboards.cache.store import BoardStore, get_store
from leaderboards.models import Board
from leaderboards.postgres.standings import standings_page
from leaderboards.ranking import Page, Window

logger = logging.getLogger(__name__)


@dataclass
class CacheSyncReport:
    warmed: list[str]
    evicted: list[str]
    drifted: list[str]
    checked: int


def cache_sync(*, now: datetime | None = None, checks: int | None = None) -> CacheSyncReport:
    """Rewrite the definitions catalog, load display names if Redis lost them, keep live
    boards in Redis (building those a Redis restart dropped), evict finalised ones, and
    compare `checks` (LEADERBOARD_DRIFT_CHECKS_PER_SYNC) cached boards with PostgreSQL, in
    turn: a board that drifted is logged and rebuilt."""
    now = now or timezone_now()
    store = get_store()
    report = CacheSyncReport(warmed=[], evicted=[], drifted=[], checked=0)
    # On a Redis Cluster one node may be down: each step (the catalog, the names, each
    # board) that needs it is skipped, and the rest of the sync still runs.
    with unless_redis_fails("refresh the board catalog"):
        catalog.refresh()
    with unless_redis_fails("load display names"):
        cache_names_ensure(store)
    grace = timedelta(seconds=settings.LEADERBOARD_FINALIZE_GRACE_SECONDS)
    for board in Board.objects.live(now, grace=grace):
        with unless_redis_fails(f"warm board {board.slug}"):
            if store.state(board) in (None, "stale") and cache_build_board(board) == "ready":
                report.warmed.append(board.slug)
    cached = store.cached_board_ids()
    for board in Board.objects.finalized().filter(pk__in=cached):
        with unless_redis_fails(f"evict board {board.slug}"):
            store.drop(board.pk)
            report.evicted.append(board.slug)
    checks = settings.LEADERBOARD_DRIFT_CHECKS_PER_SYNC if checks is None else checks
    for board in _drift_turn(store, cached, checks):
        report.checked += 1
        with unless_redis_fails(f"check board {board.slug}"):
            drifted, top = _cache_compare(store, board)
            if drifted:
                logger.warning("cache drift on board=%s: rebuilding from PostgreSQL", board.slug)
                report.drifted.append(board.slug)
                cache_build_board(board, force=True)
            if top is not None:
                # The names that came with that top, put right where a save never reached
                # Redis.
                cache_names_repair(store, top)
    for action, slugs in (
        ("warmed", report.warmed),
        ("evicted", report.evicted),
        ("drifted", report.drifted),
    ):
        metrics.CACHE_SYNC.labels(action).inc(len(slugs))
    return report


DRIFT_CHECK_TOP = 1_000


def _drift_turn(store: BoardStore, cached: set[int], checks: int) -> list[Board]:
    """The next `checks` live cached boards by id after the one the last sync checked,
    wrapping round: each is compared once every ceil(boards / checks) syncs, so a board
    that drifts (whatever the cause) is found in bounded time, not by luck of a sample.
    Without the cursor (its Redis node down, say) the turn starts from the first board."""
    if not checks:
        return []
    boards = list(Board.objects.filter(pk__in=cached, finalized_at__isnull=True).order_by("pk"))
    if not boards:
        return []
    last = 0
    with unless_redis_fails("read the drift cursor"):
        last = store.drift_cursor()
    start = next((i for i, board in enumerate(boards) if board.pk > last), 0)
    turn = (boards[start:] + boards[:start])[:checks]
    with unless_redis_fails("move the drift cursor"):
        store.drift_cursor_set(turn[-1].pk)
    return turn


DRIFT_CHECK_TRIES = 5


def _cache_compare(store: BoardStore, board: Board) -> tuple[bool, Page | None]:
    """Whether the cached top of the board differs from PostgreSQL's, compared at one point
    of the stream (and the cached top, None when the board is not ready).

    Under traffic the two are rarely equal at an instant: a batch is committed before it is
    applied to Redis. So PostgreSQL is read in a REPEATABLE READ snapshot together with the
    consumer offsets it covers, and Redis's top between two reads of the board's fences (the
    next offset per partition its set holds, moved by each apply in the same script): when
    both fence reads equal the snapshot's offsets, the top is the set at exactly that point
    of the stream, and any difference is drift. When they differ (a batch in flight) it is
    tried again a few times, and otherwise left for the next turn (logged), never
    counted as drift."""
    cached = None
    for attempt in range(DRIFT_CHECK_TRIES):
        with snapshot() as offsets:
            before = store.fences(board)
            cached = store.top(board, 0, DRIFT_CHECK_TOP)
            if cached is None:
                return False, None
            if before == offsets == store.fences(board):
                page = standings_page(Window.of_board(board), offset=0, limit=DRIFT_CHECK_TOP)
                return cached != page, cached
        time.sleep(0.02 * (attempt + 1))
    logger.info("cache drift check of board=%s skipped: batches in flight", board.slug)
    return False, cached
