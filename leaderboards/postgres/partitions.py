"""The delta log's weekly partitions: made ahead of time, dropped after the retention.

`leaderboards_scoredelta` is partitioned by range of `created_at`, one partition per ISO
week from Monday 00:00 UTC (`leaderboards_scoredelta_wYYYYMMDD`), the buckets of the weekly
rollups. A DEFAULT partition takes what no week covers: a very old event for a week that
was dropped or never had a partition, or (should this task stop running) a week not made
yet. Nothing is lost for want of a partition.

`partitions_maintain`, a periodic task, makes this week and the next WEEKS_AHEAD (far more
than the consumer's clock-skew limit lets into the future), and drops each week that ended
more than DELTA_RETENTION_DAYS ago once

- the rollups hold all of it (no delta in it ingested at or after the watermark), and
- no board that is not finalised needs its raw deltas: a tournament or league board (read
  from the log) whose window touches it, any board whose partial hours at either end
  (or whole window, under an hour) lie in it, or one with a player's score removed in
  it (ScoreCut: standings read the rest of the cut's hour from the log). Other boards
  read those weeks from the rollups alone, so an all-time board does not hold every week
  forever.

Once weeks are dropped, `DeltaLogHorizon` says from when the log is complete again, and
`deltas_retained` tells standings whether the raw deltas a window needs are still there:
a window whose edges fall in dropped time is refused rather than answered short.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q

from leaderboards import metrics
from leaderboards.models import Board, DeltaLogHorizon, ScoreCut
from leaderboards.postgres.rollups import rollup_watermark
from leaderboards.ranking import Window
from leaderboards.windows import clamp_window_instant

logger = logging.getLogger(__name__)

LOG = "leaderboards_scoredelta"
DEFAULT = f"{LOG}_default"
WEEK = timedelta(weeks=1)
WEEKS_AHEAD = 2
# 1970-01-05 was a Monday: weeks as date_trunc('week', ...) and the weekly rollups.
_MONDAY = datetime(1970, 1, 5, tzinfo=UTC)
# A drop takes the log's ACCESS EXCLUSIVE lock; rather than queue ingestion behind a long
# read for long, it gives up and tries again on the next run.
LOCK_TIMEOUT = "2s"
# pg_advisory_xact_lock key: one change to the partitions at a time (ASCII "deltpart").
_LOCK_KEY = 0x64656C7470617274

Span = tuple[datetime | None, datetime | None]


class DeltasRetired(ValidationError):
    """The raw deltas a window needs were dropped with their week (a 400 in the API)."""


def week_start(moment: datetime) -> datetime:
    return _MONDAY + (moment.astimezone(UTC) - _MONDAY) // WEEK * WEEK


def partition_name(monday: datetime) -> str:
    return f"{LOG}_w{monday:%Y%m%d}"


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    starts_at: datetime
    ends_at: datetime


_PARTITIONS_SQL = """
SELECT c.relname, b[1]::timestamptz, b[2]::timestamptz
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid,
       regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''(.*)''\\) TO \\(''(.*)''\\)') b
 WHERE i.inhparent = %s::regclass AND b IS NOT NULL
 ORDER BY 2
"""


def partitions_list() -> list[Partition]:
    """The log's week partitions, oldest first (the DEFAULT one aside)."""
    with connection.cursor() as cursor:
        cursor.execute(_PARTITIONS_SQL, [LOG])
        return [Partition(*row) for row in cursor.fetchall()]


_ALL_PARTITIONS_SQL = """
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = %s::regclass ORDER BY c.relname
"""


def partitions_hold() -> list[str]:
    """Hold off changes to the partitions (weeks made or dropped) until the caller's
    transaction ends, and return every partition's table, DEFAULT included: what works
    through the log a partition at a time (an erasure) sees the same ones throughout."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        cursor.execute(_ALL_PARTITIONS_SQL, [LOG])
        return [name for (name,) in cursor.fetchall()]


def partitions_ensure(*, now: datetime) -> list[str]:
    """Make the partitions of this week and the next WEEKS_AHEAD that are missing; returns
    their names."""
    have = {p.starts_at for p in partitions_list()}
    made = []
    monday = week_start(now)
    for k in range(WEEKS_AHEAD + 1):
        week = monday + k * WEEK
        if week not in have and _partition_create(week):
            made.append(partition_name(week))
    return made


def _partition_create(monday: datetime) -> bool:
    """Create a week's table and attach it, moving rows of that week already in DEFAULT
    over first; False when another run made it, or when the log was too busy to lock (the
    next run tries again). ATTACH locks DEFAULT exclusively, and every batch insert reads
    DEFAULT (its duplicate check), so ingestion waits for this: at most LOCK_TIMEOUT for the
    lock, then the move of DEFAULT's rows of that week (none while the task keeps
    WEEKS_AHEAD made). DEFAULT is locked first so that no row of the week lands there
    between the move and the ATTACH."""
    name, end = partition_name(monday), monday + WEEK
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
            cursor.execute("SELECT to_regclass(%s)", [name])
            if cursor.fetchone()[0] is not None:  # made by another run meanwhile
                return False
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            cursor.execute(f"LOCK TABLE {DEFAULT} IN ACCESS EXCLUSIVE MODE")
            cursor.execute(f"CREATE TABLE {name} (LIKE {LOG} INCLUDING DEFAULTS)")
            cursor.execute(
                f"ALTER TABLE {name} ADD CONSTRAINT {name}_bounds"
                " CHECK (created_at >= %s AND created_at < %s)",
                [monday, end],
            )
            cursor.execute(
                f"WITH moved AS (DELETE FROM {DEFAULT} WHERE created_at >= %s AND created_at < %s"
                f" RETURNING *) INSERT INTO {name} SELECT * FROM moved",
                [monday, end],
            )
            cursor.execute(
                f"ALTER TABLE {LOG} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)",
                [monday, end],
            )
            # The bounds check only spared ATTACH a scan; the partition bound holds it now.
            cursor.execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_bounds")
    except Exception as exc:
        if getattr(exc.__cause__, "sqlstate", None) == "55P03":  # lock_not_available
            logger.warning("delta log partition %s not made: the log was busy", name)
            return False
        raise
    logger.info("delta log partition %s created", name)
    return True


@dataclass(frozen=True, slots=True)
class Dropped:
    name: str
    starts_at: datetime
    ends_at: datetime
    rows: int


@dataclass(frozen=True, slots=True)
class Kept:
    name: str
    reason: str  # "rollups" (not all rolled up yet), "board <slug>", "locked", "gone"


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    created: list[str]
    dropped: list[Dropped]
    kept: list[Kept]
    default_rows_deleted: int


def partitions_maintain(*, now: datetime, retention_days: int | None = None) -> MaintenanceReport:
    """Make the weeks ahead, then drop the weeks past the retention that may go (see the
    module docstring); `retention_days` 0 keeps everything."""
    days = settings.DELTA_RETENTION_DAYS if retention_days is None else retention_days
    created = partitions_ensure(now=now)
    dropped: list[Dropped] = []
    kept: list[Kept] = []
    deleted = 0
    if days:
        cutoff = now - timedelta(days=days)
        for part in partitions_list():
            if part.ends_at > cutoff:
                break
            outcome = _partition_drop(part)
            (dropped if isinstance(outcome, Dropped) else kept).append(outcome)
        deleted = _default_prune()
    for part in dropped:
        logger.info(
            "delta log partition %s dropped: %s to %s, about %d rows",
            part.name,
            part.starts_at.isoformat(),
            part.ends_at.isoformat(),
            part.rows,
            extra={"partition": part.name, "rows": part.rows},
        )
    for part in kept:
        logger.info("delta log partition %s past retention kept: %s", part.name, part.reason)
    metrics.DELTA_PARTITIONS_DROPPED.inc(len(dropped))
    metrics.DELTA_ROWS_DROPPED.inc(sum(part.rows for part in dropped) + deleted)
    metrics.DELTA_PARTITIONS_KEPT.set(len(kept))
    return MaintenanceReport(created, dropped, kept, deleted)


def _partition_drop(part: Partition) -> Dropped | Kept:
    """Drop one week if the rollups hold it and no open board needs it, all under the log's
    lock, so no delta can arrive in it between the checks and the drop."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
            cursor.execute("SELECT to_regclass(%s)", [part.name])
            if cursor.fetchone()[0] is None:  # dropped by another run meanwhile
                return Kept(part.name, "gone")
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            cursor.execute(f"LOCK TABLE {LOG} IN ACCESS EXCLUSIVE MODE")
            watermark = rollup_watermark()
            cursor.execute(
                f"SELECT EXISTS (SELECT 1 FROM {part.name}"
                " WHERE ingested_at >= coalesce(%s, '-infinity'::timestamptz))",
                [watermark],
            )
            if cursor.fetchone()[0]:
                return Kept(part.name, "rollups")
            if board := _board_needing(part.starts_at, part.ends_at):
                return Kept(part.name, f"board {board.slug}")
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [part.name])
            rows = max(cursor.fetchone()[0], 0)
            cursor.execute(f"ALTER TABLE {LOG} DETACH PARTITION {part.name}")
            cursor.execute(f"DROP TABLE {part.name}")
            horizon = DeltaLogHorizon.objects.select_for_update().first()
            if horizon is None:
                DeltaLogHorizon.objects.create(complete_from=part.ends_at)
            elif horizon.complete_from < part.ends_at:
                horizon.complete_from = part.ends_at
                horizon.save()
    except Exception as exc:
        if getattr(exc.__cause__, "sqlstate", None) == "55P03":  # lock_not_available
            return Kept(part.name, "locked")
        raise
    return Dropped(part.name, part.starts_at, part.ends_at, rows)


def _board_needing(starts_at: datetime, ends_at: datetime) -> Board | None:
    """A board not finalised whose reads need raw deltas stamped in [starts_at, ends_at)."""
    boards = Board.objects.filter(finalized_at__isnull=True, starts_at__lt=ends_at).filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=starts_at)
    )
    for board in boards.order_by("starts_at", "pk"):
        if board.is_tournament or board.bucket_size is not None:
            return board
        for lo, hi in raw_spans(Window.of_board(board)):
            if _overlaps((lo, hi), (starts_at, ends_at)):
                return board
    # A cut's scores read the rest of its hour from the log: (cut_at, the end of its hour).
    # (`starts_at` is datetime.min for the DEFAULT partition's prune: nothing before it.)
    after = starts_at - timedelta(hours=1) if starts_at.year > 1 else starts_at
    cut = (
        ScoreCut.objects.filter(
            board__finalized_at__isnull=True, cut_at__gt=after, cut_at__lt=ends_at
        )
        .select_related("board")
        .order_by("cut_at", "pk")
        .first()
    )
    return None if cut is None else cut.board


def _default_prune() -> int:
    """Delete DEFAULT's rows stamped before the horizon once rolled up: late events for
    weeks already dropped, which standings no longer read raw. None while a board that is
    not finalised reads raw deltas from before the horizon, as a week is kept for it."""
    horizon = DeltaLogHorizon.objects.first()
    watermark = rollup_watermark()
    if horizon is None or watermark is None:
        return 0
    if _board_needing(datetime.min.replace(tzinfo=UTC), horizon.complete_from):
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {DEFAULT} WHERE created_at < %s AND ingested_at < %s",
            [horizon.complete_from, watermark],
        )
        return cursor.rowcount


def _hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _hour_ceil(moment: datetime) -> datetime:
    floor = _hour_floor(moment)
    return floor if floor == moment else floor + timedelta(hours=1)


def raw_spans(window: Window) -> list[Span]:
    """The spans of a board's window that standings read from the log rather than the
    rollups, as leaderboards/postgres/scores.py plans them: the partial hours at either end, or the
    whole window when it holds no whole hour (the recent tail past the rollup watermark
    aside, which is never dropped)."""
    lo = None if window.starts_at is None else clamp_window_instant(window.starts_at)
    hi = None if window.ends_at is None else clamp_window_instant(window.ends_at)
    inner_lo = None if lo is None else _hour_ceil(lo)
    inner_hi = None if hi is None else _hour_floor(hi)
    if inner_lo is not None and inner_hi is not None and inner_lo >= inner_hi:
        return [(lo, hi)]
    spans = []
    if lo is not None and inner_lo != lo:
        spans.append((lo, inner_lo))
    if hi is not None and inner_hi != hi:
        spans.append((inner_hi, hi))
    return spans


def _overlaps(a: Span, b: Span) -> bool:
    (a_lo, a_hi), (b_lo, b_hi) = a, b
    return (a_lo is None or b_hi is None or a_lo < b_hi) and (
        a_hi is None or b_lo is None or b_lo < a_hi
    )


def deltas_retained(spans: list[Span]) -> None:
    """Raise DeltasRetired if any span reaches into time whose deltas were dropped: before
    the horizon and outside every week still kept. No spans (a window of whole hours),
    no query: this runs on every standings read."""
    if not spans:
        return
    horizon = DeltaLogHorizon.objects.values_list("complete_from", flat=True).first()
    if horizon is None:
        return
    early = [(lo, min(hi, horizon) if hi else horizon) for lo, hi in spans]
    early = [(lo, hi) for lo, hi in early if lo is None or lo < hi]
    if not early:
        return
    kept = [(p.starts_at, p.ends_at) for p in partitions_list() if p.starts_at < horizon]
    for lo, hi in early:
        if not _covered(lo, hi, kept):
            raise DeltasRetired(
                f"The delta log before {horizon.isoformat()} is past its retention "
                f"(DELTA_RETENTION_DAYS={settings.DELTA_RETENTION_DAYS}), and this range "
                f"needs its single events from {(lo or horizon).isoformat()} on. Ranges of "
                "whole UTC hours there are answered from the hourly rollups: give times on "
                "the hour.",
                code="retired",
            )


def _covered(lo: datetime | None, hi: datetime, kept: list[Span]) -> bool:
    """Whether [lo, hi) lies within the union of the `kept` spans (sorted, disjoint)."""
    if lo is None:
        return False
    at = lo
    for p_lo, p_hi in kept:
        if p_lo <= at < p_hi:
            at = p_hi
            if at >= hi:
                return True
    return False
