"""The read benchmark's data: a 1,000,000-player all-time board (one delta each, scores
skewed towards the bottom), loaded once and reused, and a daily series whose current board
gets 20,000 fresh deltas a run; rolled up and built in Redis before anything is measured."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import redis
from django.db import connection, transaction

from devtools.bench_reads.errors import BenchFailed
from devtools.bench_standings import GRAINS, vacuum
from leaderboards.cache.builds import cache_build_board, cache_drop_board
from leaderboards.cache.store import BoardKeys, get_store
from leaderboards.models import Board, Period, Series
from leaderboards.postgres.rollups import SAFETY_MARGIN, rollups_advance
from leaderboards.services import board_create, series_create, series_current_board

METRIC = "bench-reads"
BOARD_SLUG = "bench-reads"
SERIES_SLUG = "bench-reads-daily"
PLAYER_PREFIX = "bench-read-"
BOARD_STARTS_AT = datetime(2026, 1, 1, tzinfo=UTC)
LOADED_AT = datetime(2026, 1, 2, tzinfo=UTC)  # the all-time deltas' created_at
FRESH = 20_000  # deltas stamped now, per run, for the series' current board
BATCH = 250_000  # players (and their deltas) per transaction
MAX_SCORE = 50_000
SCORE_SKEW = 3  # score = MAX_SCORE * u^SCORE_SKEW: most players near the bottom, in ties

# A uniform draw in [0, 1) from a hash of the player number: the same board every load.
_PLAYER_DRAW = "((hashint8extended(n, 7) & 4503599627370495)::float8 / 4503599627370496)"
_PLAYERS_SQL = """
INSERT INTO players_player (external_id, display_name)
SELECT %(prefix)s || lpad(n::text, 7, '0'), 'Player ' || n
  FROM generate_series(%(first)s, %(last)s) n
ON CONFLICT (external_id) DO NOTHING
"""
_DELTAS_SQL = f"""
INSERT INTO leaderboards_scoredelta (dedupe_key, player_id, metric, delta, created_at)
SELECT gen_random_uuid(), p.id, %(metric)s,
       floor(({MAX_SCORE} + 1) * power({_PLAYER_DRAW}, {SCORE_SKEW}))::bigint, %(created_at)s
  FROM generate_series(%(first)s, %(last)s) n
  JOIN players_player p ON p.external_id = %(prefix)s || lpad(n::text, 7, '0')
"""
_FRESH_SQL = """
INSERT INTO leaderboards_scoredelta (dedupe_key, player_id, metric, delta, created_at)
SELECT gen_random_uuid(), p.id, %(metric)s, 1 + floor(random() * 50)::bigint,
       date_trunc('milliseconds', now())
  FROM generate_series(1, %(rows)s) n
  JOIN players_player p ON p.external_id = %(prefix)s || lpad(n::text, 7, '0')
"""


def player_id(n: int) -> str:
    return f"{PLAYER_PREFIX}{n:07d}"


def _loaded_deltas() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM leaderboards_scoredelta WHERE metric = %s AND created_at = %s",
            [METRIC, LOADED_AT],
        )
        return cursor.fetchone()[0]


def _delete_load() -> None:
    """Every delta of the metric and the rollups made of them, together, so the rollups
    never count deltas that are gone."""
    with transaction.atomic(), connection.cursor() as cursor:
        for grain in GRAINS:
            cursor.execute(f"DELETE FROM leaderboards_{grain}rollup WHERE metric = %s", [METRIC])
        cursor.execute("DELETE FROM leaderboards_scoredelta WHERE metric = %s", [METRIC])


def load(*, players: int, report: Callable[[str], None]) -> None:
    """Insert players 1..`players` with display names and one delta each, BATCH per
    transaction."""
    started = time.monotonic()
    for first in range(1, players + 1, BATCH):
        params = {
            "prefix": PLAYER_PREFIX,
            "metric": METRIC,
            "created_at": LOADED_AT,
            "first": first,
            "last": min(first + BATCH - 1, players),
        }
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_PLAYERS_SQL, params)
            cursor.execute(_DELTAS_SQL, params)
        elapsed = time.monotonic() - started
        done = params["last"]
        report(f"loaded {done:,} players in {elapsed:.0f} s ({done / elapsed:,.0f}/s)")


def ensure_data(*, players: int, report: Callable[[str], None]) -> bool:
    """Load the all-time board's deltas unless exactly `players` of them are there. True
    when it loaded them."""
    present = _loaded_deltas()
    if present == players:
        report(f"reusing the {present:,} players of metric {METRIC!r}")
        return False
    if present:
        report(f"found {present:,} players of metric {METRIC!r}, not {players:,}: deleting them")
        _delete_load()
    report(f"loading {players:,} players, one delta each (scores 0..{MAX_SCORE:,}, skewed)")
    load(players=players, report=report)
    started = time.monotonic()
    vacuum("players_player", "leaderboards_scoredelta")
    report(f"VACUUM ANALYZE in {time.monotonic() - started:.0f} s")
    return True


def ensure_boards() -> tuple[Board, Series]:
    """The all-time board and the daily series, created on the first run."""
    board = Board.objects.filter(slug=BOARD_SLUG).first() or board_create(
        slug=BOARD_SLUG,
        name="Bench reads (all time)",
        metric=METRIC,
        starts_at=BOARD_STARTS_AT,
        ends_at=None,
    )
    series = Series.objects.filter(slug=SERIES_SLUG).first() or series_create(
        slug=SERIES_SLUG, name="Bench reads (daily)", period=Period.DAILY, metric=METRIC
    )
    return board, series


def add_fresh_deltas(*, players: int) -> int:
    """A delta stamped now for each of the first FRESH players, so the series' current
    board has entries whatever day it is. Returns how many."""
    rows = min(FRESH, players)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_FRESH_SQL, {"metric": METRIC, "prefix": PLAYER_PREFIX, "rows": rows})
    return rows


def advance_rollups(*, since: float, report: Callable[[str], None]) -> None:
    """Roll up everything, once deltas inserted at monotonic time `since` are rollup
    material (rollups.SAFETY_MARGIN behind now)."""
    time.sleep(max(0.0, SAFETY_MARGIN.total_seconds() + 1 - (time.monotonic() - since)))
    progress = rollups_advance()
    report(
        f"rollups_advance: {progress.hourly_rows:,} hourly, {progress.daily_rows:,} daily and"
        f" {progress.weekly_rows:,} weekly rows merged in {progress.seconds:.1f} s"
    )


def build_boards(board: Board, series: Series, *, report: Callable[[str], None]) -> Board:
    """Time the cold Redis build of the big board; build the series' current board too
    (both forced: deltas written here bypass the consumer that keeps a cached copy up to
    date). Returns the current board."""
    cache_drop_board(board.pk)
    started = time.perf_counter()
    outcome = cache_build_board(board, force=True)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if outcome != "ready":
        raise BenchFailed(f"the cold build of {board.slug!r} ended {outcome!r}, not 'ready'")
    size = store_client().zcard(BoardKeys.of(board.pk).zset)
    report(f"cold build: {size:,} players in {elapsed_ms:,.0f} ms")
    current = series_current_board(series)
    cache_drop_board(current.pk)
    outcome = cache_build_board(current, force=True)
    if outcome != "ready":
        raise BenchFailed(f"the build of {current.slug!r} ended {outcome!r}, not 'ready'")
    return current


def store_client() -> redis.Redis | redis.RedisCluster:
    """The store's client: a cluster's when REDIS_CLUSTER is on."""
    return get_store().redis


def mid_board_player(board: Board) -> str:
    """The player in the middle of the cached board, in board order."""
    client, zset = store_client(), BoardKeys.of(board.pk).zset
    middle = client.zcard(zset) // 2
    return client.zrange(zset, middle, middle)[0].decode()
