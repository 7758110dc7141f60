"""Keeping the Redis copy of boards (leaderboards/cache/store.py) in step with PostgreSQL.

- builds: a board's snapshot loaded into Redis, fenced by the consumer offsets it covers;
- the consumer's apply step: each committed batch's new deltas onto every cached board;
- drops, after a commit when a definition changed;
- the periodic sync: warm live boards, evict finalised ones, check a sample for drift;
- players' display names beside the boards, loaded with the first build;
- the read-through that selectors use: Redis first; on a miss, None (ask PostgreSQL, whose
  rollups answer fast) while the board is built in the background; None as well when
  Redis is down, backing off for a few seconds so no request waits on a dead cache.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils.timezone import now as timezone_now

from config.staleness import consumer_boards_max_age
from leaderboards import metrics
from leaderboards.aggregations import AGGREGATIONS
from leaderboards.cache.catalog import catalog
from leaderboards.cache.store import (
    NAMES,
    BoardStore,
    Unit,
    get_store,
    redis_failed,
    redis_unavailable,
)
from leaderboards.models import Board, TieBreak
from leaderboards.postgres.deltas import DeltaRow, offsets_for_topic
from leaderboards.postgres.standings import standings_page, standings_stream, standings_whole_scores
from leaderboards.ranking import Page, Window
from leaderboards.windows import epoch_millis
from players.selectors import player_display_names, player_names_stream

logger = logging.getLogger(__name__)


# -- builds and drops ---------------------------------------------------------------------


@contextlib.contextmanager
def _snapshot() -> Iterator[dict[int, int]]:
    """A REPEATABLE READ transaction whose first query reads the consumer offsets: every
    query inside it sees the delta log exactly as those offsets left it."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield offsets_for_topic(topic=settings.KAFKA_TOPIC)


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
        with _unless_redis_fails("load display names"):
            cache_names_ensure(store)
        with _snapshot() as fences:
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


# -- the consumer's apply step ------------------------------------------------------------


class _BoardDefinitions:
    """Board rows the consumer needs for the cached ids, re-read every
    LEADERBOARD_CONSUMER_BOARDS_MAX_AGE_MS so edits made in the admin reach it."""

    def __init__(self) -> None:
        self._boards: dict[int, Board] = {}
        self._loaded_at = 0.0

    def get(self, ids: set[int], *, reload: bool = False) -> list[Board]:
        stale = reload or time.monotonic() - self._loaded_at > consumer_boards_max_age()
        if stale or not ids <= self._boards.keys():
            self._boards = {board.pk: board for board in Board.objects.filter(pk__in=ids)}
            self._loaded_at = time.monotonic()
        return [self._boards[board_id] for board_id in ids if board_id in self._boards]


_definitions = _BoardDefinitions()


def cache_apply_batch(
    *, deltas: Sequence[DeltaRow], positions: dict[int, tuple[int, int]]
) -> dict[int, str]:
    """Apply the new deltas of one committed batch to every cached board they belong to.

    `positions` maps each partition the batch read to its offsets [from, to), so every
    cached board advances its fences even when the batch holds nothing for it.
    """
    store = get_store()
    board_ids = store.cached_board_ids()
    if not board_ids or not positions:
        return {}
    outcomes = _apply_batch(store, board_ids, deltas, positions)
    unreachable = sorted(
        board_id for board_id, outcome in outcomes.items() if outcome == "unreachable"
    )
    if unreachable:
        logger.warning(
            "redis node down: %d cached boards miss this batch and are rebuilt once it is "
            "back (%s)",
            len(unreachable),
            unreachable[:10],
        )
    return outcomes


def _apply_batch(
    store: BoardStore,
    board_ids: set[int],
    deltas: Sequence[DeltaRow],
    positions: dict[int, tuple[int, int]],
) -> dict[int, str]:
    by_metric: dict[str, list[DeltaRow]] = {}
    for row in deltas:
        by_metric.setdefault(row.metric, []).append(row)
    outcomes = store.apply(_units_per_board(_definitions.get(board_ids), by_metric, positions))
    redefined = {board_id for board_id, outcome in outcomes.items() if outcome == "redefined"}
    if redefined:
        # Our copy of those boards is older than the build's, or the build's is older than
        # the database: re-read them, try once more, and drop what still disagrees.
        boards = _definitions.get(redefined, reload=True)
        retried = store.apply(_units_per_board(boards, by_metric, positions))
        for board_id in redefined:
            if retried.get(board_id, "redefined") == "redefined":
                store.drop(board_id)
                retried[board_id] = "stale"
        outcomes.update(retried)
    return outcomes


def _units_per_board(
    boards: Sequence[Board],
    by_metric: dict[str, list[DeltaRow]],
    positions: dict[int, tuple[int, int]],
) -> list[tuple[Board, list[Unit]]]:
    work = []
    for board in boards:
        rule = AGGREGATIONS[board.aggregation]
        values: dict[int, dict] = {partition: {} for partition in positions}
        rows = [
            row
            for row in by_metric.get(board.metric, ())
            if board.covers(row.metric, row.created_at)
        ]
        if board.is_tournament:
            # Only some events count, and a late one can displace a counted one: the
            # batch's players' whole scores, from the log as it stands after the commit.
            scores = standings_whole_scores(Window.of_board(board), {r.player_pk for r in rows})
            for row in rows:
                values[row.partition][row.player_id] = scores.get(row.player_pk)
        elif rule.picks_latest:
            # The batch's latest event per player, in the delta log's order (created_at,
            # then dedupe key: one batch shares one ingest time).
            for row in sorted(rows, key=lambda r: (r.created_at, r.dedupe_key)):
                values[row.partition][row.player_id] = (row.delta, epoch_millis(row.created_at))
        elif board.tie_break == TieBreak.EARLIEST:
            reach = rule.combine_reached
            for row in rows:
                per_player = values[row.partition]
                new = (row.delta, epoch_millis(row.created_at))
                old = per_player.get(row.player_id)
                per_player[row.player_id] = new if old is None else reach(old, new)
        else:
            combine = rule.combine
            for row in rows:
                per_player = values[row.partition]
                old = per_player.get(row.player_id)
                per_player[row.player_id] = row.delta if old is None else combine(old, row.delta)
        units = [Unit(p, start, end, values[p]) for p, (start, end) in positions.items()]
        work.append((board, units))
    return work


# -- the periodic sync --------------------------------------------------------------------


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
    with _unless_redis_fails("refresh the board catalog"):
        catalog.refresh()
    with _unless_redis_fails("load display names"):
        cache_names_ensure(store)
    grace = timedelta(seconds=settings.LEADERBOARD_FINALIZE_GRACE_SECONDS)
    for board in Board.objects.live(now, grace=grace):
        with _unless_redis_fails(f"warm board {board.slug}"):
            if store.state(board) in (None, "stale") and cache_build_board(board) == "ready":
                report.warmed.append(board.slug)
    cached = store.cached_board_ids()
    for board in Board.objects.finalized().filter(pk__in=cached):
        with _unless_redis_fails(f"evict board {board.slug}"):
            store.drop(board.pk)
            report.evicted.append(board.slug)
    checks = settings.LEADERBOARD_DRIFT_CHECKS_PER_SYNC if checks is None else checks
    for board in _drift_turn(store, cached, checks):
        report.checked += 1
        with _unless_redis_fails(f"check board {board.slug}"):
            drifted, top = _cache_compare(store, board)
            if drifted:
                logger.warning("cache drift on board=%s: rebuilding from PostgreSQL", board.slug)
                report.drifted.append(board.slug)
                cache_build_board(board, force=True)
            if top is not None:
                # The names that came with that top, put right where a save never reached
                # Redis.
                _cache_names_repair(store, top)
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
    with _unless_redis_fails("read the drift cursor"):
        last = store.drift_cursor()
    start = next((i for i, board in enumerate(boards) if board.pk > last), 0)
    turn = (boards[start:] + boards[:start])[:checks]
    with _unless_redis_fails("move the drift cursor"):
        store.drift_cursor_set(turn[-1].pk)
    return turn


@contextlib.contextmanager
def _unless_redis_fails(what: str) -> Iterator[None]:
    """Run a step of a build or the sync, or skip the rest of it (logged) when Redis (a
    node of it, on a cluster) fails it: the other steps still run."""
    try:
        yield
    except redis.RedisError as exc:
        logger.warning("cache could not %s: redis: %s", what, exc)


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
        with _snapshot() as offsets:
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


# -- display names ------------------------------------------------------------------------


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


def _cache_names_repair(store: BoardStore, page: Page) -> int:
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


# -- the read-through ---------------------------------------------------------------------


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
