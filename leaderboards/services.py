"""Writes: series and boards, the score delta log, and keeping the Redis cache in step."""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils.timezone import now as timezone_now

from ingestion.selectors import offsets_for_topic
from leaderboards import metrics
from leaderboards.final import final_standings_freeze
from leaderboards.models import Aggregation, Board, Series, SortOrder
from leaderboards.standings import Window, standings_page, standings_stream
from leaderboards.store import Unit, get_store
from leaderboards.windows import epoch_millis, series_windows_from

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeltaRow:
    """An accepted event on its way into the log; `partition` is where it came from, which
    the Redis fences need."""

    dedupe_key: uuid.UUID
    player_pk: int
    player_id: str
    metric: str
    delta: int
    created_at: datetime
    partition: int


def series_create(
    *,
    slug: str,
    name: str,
    period: str,
    metric: str = "score",
    reset_time: dt.time = dt.time(0, 0),
    reset_weekday: int | None = None,
    timezone: str = "UTC",
    aggregation: str = Aggregation.SUM,
    sort_order: str = SortOrder.DESC,
    now: datetime | None = None,
) -> Series:
    """Create a recurring series; its current window is live at once."""
    series = Series(
        slug=slug,
        name=name,
        period=period,
        metric=metric,
        reset_time=reset_time,
        reset_weekday=reset_weekday,
        timezone=timezone,
        aggregation=aggregation,
        sort_order=sort_order,
    )
    series.full_clean()
    with transaction.atomic():
        series.save()
        series_ensure_windows(series, now=now)
    return series


def series_ensure_windows(
    series: Series, *, now: datetime | None = None, ahead: int = 1
) -> list[Board]:
    """The board of the window running now and of the `ahead` next ones, created when
    missing (idempotent: safe to run from several workers at once)."""
    now = now or timezone_now()
    windows = series_windows_from(
        now,
        1 + ahead,
        period=series.period,
        reset_time=series.reset_time,
        reset_weekday=series.reset_weekday,
        timezone=series.timezone,
    )
    boards = []
    for window in windows:
        board, _created = Board.objects.get_or_create(
            slug=window.slug(series.slug, series.period),
            defaults={
                "name": window.name(series.name, series.period),
                "metric": series.metric,
                "starts_at": window.starts_at,
                "ends_at": window.ends_at,
                "aggregation": series.aggregation,
                "sort_order": series.sort_order,
                "series": series,
            },
        )
        if board.series_id != series.pk:
            raise ValidationError(
                {"slug": [f"Board {board.slug!r} exists and is not part of this series."]}
            )
        boards.append(board)
    return boards


def series_current_board(series: Series, *, now: datetime | None = None) -> Board:
    return series_ensure_windows(series, now=now, ahead=0)[0]


def board_create(
    *,
    slug: str,
    name: str,
    starts_at: datetime,
    ends_at: datetime | None = None,
    metric: str = "score",
    aggregation: str = Aggregation.SUM,
    sort_order: str = SortOrder.DESC,
) -> Board:
    board = Board(
        slug=slug,
        name=name,
        metric=metric,
        starts_at=starts_at,
        ends_at=ends_at,
        aggregation=aggregation,
        sort_order=sort_order,
    )
    board.full_clean()
    board.save()
    return board


# Deltas arrive through COPY into a per-session staging table, then move into the log in
# one INSERT that skips known dedupe keys: COPY's binary rows cost a fraction of what
# adapting five parameter arrays does at 20,000 events a second.
_STAGE_DELTAS_SQL = """
CREATE TEMP TABLE IF NOT EXISTS delta_stage (
    dedupe_key uuid, player_id bigint, metric text, delta bigint, created_at timestamptz
) ON COMMIT DELETE ROWS
"""
_COPY_DELTAS_SQL = "COPY delta_stage FROM STDIN (FORMAT BINARY)"
_INSERT_DELTAS_SQL = """
INSERT INTO leaderboards_scoredelta (dedupe_key, player_id, metric, delta, created_at)
SELECT dedupe_key, player_id, metric, delta, created_at FROM delta_stage
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING dedupe_key
"""
_DELTA_TYPES = ["uuid", "int8", "text", "int8", "timestamptz"]


def deltas_insert_batch(*, rows: Sequence[DeltaRow]) -> list[DeltaRow]:
    """Insert a batch; returns the rows that were new (duplicates of stored events, or of
    each other, are skipped). Joins the caller's transaction when there is one (the staging
    table empties at commit, so COPY and INSERT must share one)."""
    if not rows:
        return []
    # The raw psycopg cursor (Django's has no COPY); errors still surface as Django's.
    with (
        transaction.atomic(),
        connection.wrap_database_errors,
        connection.connection.cursor() as cursor,
    ):
        cursor.execute(_STAGE_DELTAS_SQL)
        with cursor.copy(_COPY_DELTAS_SQL) as copy:
            copy.set_types(_DELTA_TYPES)
            for row in rows:
                copy.write_row(
                    (row.dedupe_key, row.player_pk, row.metric, row.delta, row.created_at)
                )
        cursor.execute(_INSERT_DELTAS_SQL)
        inserted = {key for (key,) in cursor.fetchall()}
        cursor.execute("TRUNCATE delta_stage")
    new = []
    for row in rows:
        if row.dedupe_key in inserted:
            new.append(row)
            inserted.discard(row.dedupe_key)  # a duplicate inside the batch counts once
    return new


def cache_build_board(board: Board, *, force: bool = False) -> str:
    """Load a board into Redis from a PostgreSQL snapshot, fenced by the consumer offsets
    the snapshot covers (see leaderboards/store.py). Returns the outcome: ready, busy
    (another build runs), cached (already there), superseded or stale."""
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
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            fences = offsets_for_topic(topic=settings.KAFKA_TOPIC)
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


def cache_drop_all() -> None:
    """Forget every cached board; reads rebuild them from PostgreSQL."""
    store = get_store()
    for board_id in store.cached_board_ids():
        store.drop(board_id)


class _BoardDefinitions:
    """Board rows the consumer needs for the cached ids, re-read every few seconds so edits
    made in the admin reach it."""

    max_age = 5.0

    def __init__(self) -> None:
        self._boards: dict[int, Board] = {}
        self._loaded_at = 0.0

    def get(self, ids: set[int], *, reload: bool = False) -> list[Board]:
        stale = reload or time.monotonic() - self._loaded_at > self.max_age
        if stale or not ids <= self._boards.keys():
            self._boards = {board.pk: board for board in Board.objects.filter(pk__in=ids)}
            self._loaded_at = time.monotonic()
        return [self._boards[board_id] for board_id in ids if board_id in self._boards]


_definitions = _BoardDefinitions()


class _FinalizedWindows:
    """Windows of boards finalised in the last 30 days, re-read every 30 s: the consumer
    checks new deltas against them to count events that arrive too late."""

    max_age = 30.0
    horizon = timedelta(days=30)

    def __init__(self) -> None:
        self._boards: list[Board] = []
        self._loaded_at = -self.max_age

    def get(self) -> list[Board]:
        if time.monotonic() - self._loaded_at > self.max_age:
            self._boards = list(
                Board.objects.filter(
                    finalized_at__isnull=False, ends_at__gt=timezone_now() - self.horizon
                ).only("pk", "metric", "starts_at", "ends_at")
            )
            self._loaded_at = time.monotonic()
        return self._boards


_finalized = _FinalizedWindows()


def deltas_count_late(*, rows: Sequence[DeltaRow]) -> int:
    """Count new deltas that fall in an already finalised window on those boards (in the
    caller's transaction); they are stored but change no final result. Returns the total."""
    late: dict[int, int] = {}
    for board in _finalized.get():
        count = sum(
            1
            for row in rows
            if row.metric == board.metric and board.starts_at <= row.created_at < board.ends_at
        )
        if count:
            late[board.pk] = count
    for board_id, count in late.items():
        Board.objects.filter(pk=board_id).update(late_events=F("late_events") + count)
    return sum(late.values())


_COMBINE = {
    Aggregation.SUM: lambda old, new: old + new,
    Aggregation.MAX: max,
    Aggregation.MIN: min,
}


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
        values: dict[int, dict] = {partition: {} for partition in positions}
        rows = [
            row
            for row in by_metric.get(board.metric, ())
            if board.starts_at <= row.created_at
            and (board.ends_at is None or row.created_at < board.ends_at)
        ]
        if board.aggregation == Aggregation.LAST:
            # The batch's latest event per player, in the delta log's order (created_at,
            # then dedupe key: one batch shares one ingest time).
            for row in sorted(rows, key=lambda r: (r.created_at, r.dedupe_key)):
                values[row.partition][row.player_id] = (row.delta, epoch_millis(row.created_at))
        else:
            combine = _COMBINE[board.aggregation]
            for row in rows:
                per_player = values[row.partition]
                old = per_player.get(row.player_id)
                per_player[row.player_id] = row.delta if old is None else combine(old, row.delta)
        units = [Unit(p, start, end, values[p]) for p, (start, end) in positions.items()]
        work.append((board, units))
    return work


def series_rollover(*, now: datetime | None = None) -> list[Board]:
    """For every series, make sure the running and the next window exist, and warm both in
    Redis so the first reads after a reset are served from the cache."""
    boards = []
    for series in Series.objects.all():
        for board in series_ensure_windows(series, now=now, ahead=1):
            boards.append(board)
            cache_build_board(board)
    return boards


def board_finalize(board_id: int, *, now: datetime | None = None) -> bool:
    """Freeze a board's standings into final rows (once: a second call, or one running at
    the same time, does nothing) and evict it from Redis. True if this call froze it."""
    with transaction.atomic():
        board = (
            Board.objects.select_for_update(skip_locked=True)
            .filter(pk=board_id, finalized_at__isnull=True)
            .first()
        )
        if board is None:
            return False
        ranked = final_standings_freeze(Window.of_board(board), board_id=board.pk)
        board.finalized_at = now or timezone_now()
        board.save(update_fields=["finalized_at"])
        transaction.on_commit(lambda: cache_drop_board(board_id))
    logger.info("finalized board=%s players=%d", board.slug, ranked)
    return True


def boards_finalize_due(*, now: datetime | None = None) -> list[int]:
    """Finalise every board whose window ended more than the grace period ago."""
    now = now or timezone_now()
    grace = timedelta(seconds=settings.LEADERBOARD_FINALIZE_GRACE_SECONDS)
    due = Board.objects.filter(finalized_at__isnull=True, ends_at__lte=now - grace)
    return [
        board_id
        for board_id in due.values_list("pk", flat=True)
        if board_finalize(board_id, now=now)
    ]


@dataclass
class CacheSyncReport:
    warmed: list[str]
    evicted: list[str]
    drifted: list[str]
    checked: int


def cache_sync(*, now: datetime | None = None, sample: int | None = None) -> CacheSyncReport:
    """Keep live boards in Redis (building those a Redis restart dropped), evict finalised
    ones, and compare a sample of cached boards with PostgreSQL: a board that drifted is
    logged and rebuilt."""
    now = now or timezone_now()
    store = get_store()
    report = CacheSyncReport(warmed=[], evicted=[], drifted=[], checked=0)
    live = Board.objects.filter(finalized_at__isnull=True, starts_at__lte=now).exclude(
        ends_at__lte=now - timedelta(seconds=settings.LEADERBOARD_FINALIZE_GRACE_SECONDS)
    )
    for board in live:
        if store.state(board) is None and cache_build_board(board) == "ready":
            report.warmed.append(board.slug)
    cached = store.cached_board_ids()
    for board in Board.objects.filter(pk__in=cached, finalized_at__isnull=False):
        store.drop(board.pk)
        report.evicted.append(board.slug)
    sample_size = settings.LEADERBOARD_DRIFT_SAMPLE if sample is None else sample
    candidates = list(Board.objects.filter(pk__in=cached, finalized_at__isnull=True))
    for board in random.sample(candidates, min(sample_size, len(candidates))):
        report.checked += 1
        if _cache_drifted(board):
            logger.warning("cache drift on board=%s: rebuilding from PostgreSQL", board.slug)
            report.drifted.append(board.slug)
            cache_build_board(board, force=True)
    for action, slugs in (
        ("warmed", report.warmed),
        ("evicted", report.evicted),
        ("drifted", report.drifted),
    ):
        metrics.CACHE_SYNC.labels(action).inc(len(slugs))
    return report


def _cache_drifted(board: Board, limit: int = 1_000) -> bool:
    """Whether the cached top of the board differs from PostgreSQL's. Both reads are taken
    as close together as possible; a consumer batch landing in between can make a board
    look drifted once, which costs only a rebuild."""
    cached = get_store().top(board, 0, limit)
    if cached is None:
        return False
    return cached != standings_page(Window.of_board(board), offset=0, limit=limit)
