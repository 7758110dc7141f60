"""Hourly, daily and weekly rollups of the score delta log, filled behind a watermark.

`rollups_advance` merges every delta ingested in [previous watermark, new watermark) into
HourlyRollup, DailyRollup and WeeklyRollup (UTC buckets of `created_at`; weeks start on
Monday), so a late event lands in the old bucket it belongs to, and moves the watermark in
the same transaction. Standings
(leaderboards/postgres/standings.py) then read whole buckets from the rollups and only the edges of
a window, and deltas ingested at or after the watermark, from the log.

Why the watermark is safe: a delta's `ingested_at` is the start time of the transaction
that inserted it (`now()`), and that transaction may commit long after. The new watermark
is therefore never later than the start of any transaction still running (from
pg_stat_activity), and a few seconds behind `now()` for one that is just starting. So
every delta that will ever carry an `ingested_at` below the watermark is already
committed and visible when it is merged. Two assumptions: deltas are written with the
default `ingested_at` (a backfill that sets it in the past must reset the rollups), and
by the role that runs this, or it holds pg_read_all_stats (pg_stat_activity hides other
roles' transaction start). A transaction left open holds the watermark back: standings
stay right, they just read a longer tail from the log.

Run it every minute or so (a periodic task); it is safe twice at once and idempotent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction

from leaderboards.aggregations import AGGREGATIONS

# How far behind now() the watermark stays, for a transaction that has taken its start
# time but does not show in pg_stat_activity yet.
SAFETY_MARGIN = timedelta(seconds=5)
# At most this many deltas are merged per transaction; a backlog takes several.
CHUNK_DELTAS = 1_000_000
# pg_advisory_xact_lock key: one rollup run at a time (ASCII "rollups").
_LOCK_KEY = 0x726F6C6C757073

WATERMARK_SQL = "SELECT ingested_before FROM leaderboards_rollupwatermark ORDER BY id LIMIT 1"

_TARGET_SQL = """
SELECT least(
    coalesce(%(now)s, now()) - %(margin)s,
    now() - %(margin)s,
    (SELECT min(xact_start) FROM pg_stat_activity
      WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()
        AND datname = current_database() AND backend_type = 'client backend')
)
"""

# The end of a chunk: the ingest time of the CHUNK_DELTAS-th pending delta (exclusive, so
# a transaction's deltas, which share one ingested_at, never straddle two chunks).
_CHUNK_END_SQL = """
SELECT ingested_at FROM leaderboards_scoredelta
 WHERE ingested_at >= %(lo)s AND ingested_at < %(hi)s
 ORDER BY ingested_at OFFSET %(n)s LIMIT 1
"""
_NEXT_INGEST_SQL = """
SELECT min(ingested_at) FROM leaderboards_scoredelta
 WHERE ingested_at > %(lo)s AND ingested_at < %(hi)s
"""

# One statement merges a chunk into every grain: the chunk's deltas are aggregated per
# hour, those hours per day, and those days per (ISO) week. `best_at` (`worst_at`) is when
# the best (worst) value was first reached, for the `earliest` tie-break. `last` is the value of the
# latest event by (created_at, ingested_at, dedupe_key), the order the delta log's `last`
# uses; the whole-row array keeps that event's fields together, and PostgreSQL sorts once
# for the GROUP BY and for it.
_MERGE_SQL = """
WITH hours AS MATERIALIZED (
    SELECT d.metric, date_trunc('hour', d.created_at, 'UTC') AS bucket, d.player_id,
           {values},
           {reached}, count(*) AS count,
           (array_agg(d ORDER BY d.created_at DESC, d.ingested_at DESC, d.dedupe_key DESC))[1]
               AS e
      FROM leaderboards_scoredelta d
     WHERE d.ingested_at >= %(lo)s AND d.ingested_at < %(hi)s
     GROUP BY 1, 2, 3
),
days AS ({days}),
weeks AS ({weeks}),
hourly AS ({hourly}),
daily AS ({daily}),
weekly AS ({weekly})
SELECT (SELECT count(*) FROM hourly), (SELECT count(*) FROM daily),
       (SELECT count(*) FROM weekly)
"""
# A coarser grain's rows from a finer one's (CTE `source`), `unit` as date_trunc takes it.
_COARSER_SQL = """
    SELECT metric, date_trunc('{unit}', bucket, 'UTC') AS bucket, player_id,
           {values},
           {reached}, sum(count) AS count,
           (array_agg(e ORDER BY (e).created_at DESC, (e).ingested_at DESC,
                      (e).dedupe_key DESC))[1] AS e
      FROM {source}
     GROUP BY 1, 2, 3
"""
_UPSERT_SQL = """
    INSERT INTO leaderboards_{table} AS r (metric, bucket, player_id, total, best, worst,
                                       best_at, worst_at, count,
                                       last, last_at, last_ingested_at, last_key)
    SELECT metric, bucket, player_id, total, best, worst, best_at, worst_at, count,
           (e).delta, (e).created_at, (e).ingested_at, (e).dedupe_key
      FROM {source}
    ON CONFLICT (metric, bucket, player_id) DO UPDATE SET
        {merges},
        count = r.count + excluded.count,
        last = CASE WHEN {later} THEN excluded.last ELSE r.last END,
        last_at = CASE WHEN {later} THEN excluded.last_at ELSE r.last_at END,
        last_ingested_at = CASE WHEN {later}
                           THEN excluded.last_ingested_at ELSE r.last_ingested_at END,
        last_key = CASE WHEN {later} THEN excluded.last_key ELSE r.last_key END
    RETURNING 1
"""
_LATER = (
    "(excluded.last_at, excluded.last_ingested_at, excluded.last_key)"
    " > (r.last_at, r.last_ingested_at, r.last_key)"
)


def _first_at(value: str, at: str, *, best: bool) -> str:
    """The earliest `at` among the rows with the group's greatest (best) or least `value`:
    one array comparison per row in the hash aggregate, where an ordered aggregate would
    sort every group. Times travel as epoch microseconds, exactly."""
    micros = f"floor(extract(epoch FROM {at}) * 1000000)::bigint"
    if best:
        picked = f"-(max(ARRAY[{value}, -{micros}]))[2]"
    else:
        picked = f"(min(ARRAY[{value}, {micros}]))[2]"
    return f"(timestamptz 'epoch' + ({picked}) * interval '1 microsecond')"


# The aggregations a rollup row holds by aggregate (not `last`, whose columns follow the
# latest event): their columns, filled and merged as leaderboards/aggregations.py says.
_AGGREGATED = [rule for rule in AGGREGATIONS.values() if rule.rollup_function is not None]


def _values(source: str | None) -> str:
    """Each aggregated column from the deltas `d` (source None) or from finer rows."""
    return ", ".join(
        f"{rule.rollup_function}({'d.delta' if source is None else rule.rollup_column})"
        f" AS {rule.rollup_column}"
        for rule in _AGGREGATED
    )


def _reached(source: str | None) -> str:
    """When each best value was first reached, from the deltas (source None) or from finer
    rows."""
    parts = []
    for rule in _AGGREGATED:
        if rule.better is None:
            continue
        value, at = (
            ("d.delta", "d.created_at")
            if source is None
            else (rule.rollup_column, rule.reached_column)
        )
        first = _first_at(value, at, best=rule.better == ">")
        parts.append(f"{first} AS {rule.reached_column}")
    return ", ".join(parts)


def _merges() -> str:
    """How a rollup row `r` takes a chunk's row `excluded`: each aggregated column by its
    rule, and a best value's time as the first reach of the merged best."""
    merges = []
    for rule in _AGGREGATED:
        column = rule.rollup_column
        merges.append(
            f"{column} = {rule.rollup_merge.format(old=f'r.{column}', new=f'excluded.{column}')}"
        )
    for rule in _AGGREGATED:
        if rule.better is None:
            continue
        column, at = rule.rollup_column, rule.reached_column
        worse = "<" if rule.better == ">" else ">"
        merges.append(
            f"{at} = CASE WHEN excluded.{column} {rule.better} r.{column} THEN excluded.{at}"
            f" WHEN excluded.{column} {worse} r.{column} THEN r.{at}"
            f" ELSE least(r.{at}, excluded.{at}) END"
        )
    return ",\n        ".join(merges)


_MERGE = _MERGE_SQL.format(
    values=_values(None),
    reached=_reached(None),
    days=_COARSER_SQL.format(
        unit="day", source="hours", values=_values("hours"), reached=_reached("hours")
    ),
    weeks=_COARSER_SQL.format(
        unit="week", source="days", values=_values("days"), reached=_reached("days")
    ),
    hourly=_UPSERT_SQL.format(table="hourlyrollup", source="hours", later=_LATER, merges=_merges()),
    daily=_UPSERT_SQL.format(table="dailyrollup", source="days", later=_LATER, merges=_merges()),
    weekly=_UPSERT_SQL.format(table="weeklyrollup", source="weeks", later=_LATER, merges=_merges()),
)


@dataclass(frozen=True, slots=True)
class RollupProgress:
    """What one `rollups_advance` did: the watermark before and after it (None: no
    watermark yet), rows merged (inserted or updated) per grain, transactions that merged
    something, and the time taken."""

    previous: datetime | None
    watermark: datetime | None
    hourly_rows: int
    daily_rows: int
    weekly_rows: int
    chunks: int
    seconds: float


@dataclass(frozen=True, slots=True)
class _Chunk:
    previous: datetime | None
    watermark: datetime | None
    target: datetime
    hourly_rows: int = 0
    daily_rows: int = 0
    weekly_rows: int = 0


def rollups_advance(*, now: datetime | None = None) -> RollupProgress:
    """Merge every delta ingested since the watermark into the rollups and move the
    watermark as far as is safe (see the module docstring), in chunks of at most
    CHUNK_DELTAS deltas, one transaction each. `now` can only hold the watermark back
    (the database clock caps it). Safe to run twice, or twice at once."""
    started = time.monotonic()
    steps: list[_Chunk] = []
    limit = None
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            step = _advance_chunk(cursor, now=now, limit=limit)
        steps.append(step)
        # Under steady ingest, stop where this run started rather than chase the clock.
        limit = step.target
        if step.watermark is None or step.watermark >= step.target:
            break
    merged = [step for step in steps if step.hourly_rows]
    return RollupProgress(
        previous=steps[0].previous,
        watermark=steps[-1].watermark,
        hourly_rows=sum(step.hourly_rows for step in merged),
        daily_rows=sum(step.daily_rows for step in merged),
        weekly_rows=sum(step.weekly_rows for step in merged),
        chunks=len(merged),
        seconds=time.monotonic() - started,
    )


def _advance_chunk(cursor, *, now: datetime | None, limit: datetime | None) -> _Chunk:
    """One transaction: lock, find how far is safe, merge up to a chunk, move the mark."""
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
    # Read after the lock, so a run that waited starts where the other one stopped.
    cursor.execute(
        "SELECT id, ingested_before FROM leaderboards_rollupwatermark"
        " ORDER BY id LIMIT 1 FOR UPDATE"
    )
    row = cursor.fetchone()
    row_id, previous = row if row else (None, None)
    # pg_stat_activity is read once per transaction and then kept: start from fresh.
    cursor.execute("SELECT pg_stat_clear_snapshot()")
    cursor.execute(_TARGET_SQL, {"now": now, "margin": SAFETY_MARGIN})
    target = cursor.fetchone()[0]
    if limit is not None:
        target = min(target, limit)
    low = previous
    if low is None:
        cursor.execute(
            "SELECT min(ingested_at) FROM leaderboards_scoredelta WHERE ingested_at < %s",
            [target],
        )
        low = cursor.fetchone()[0] or target
    if low >= target:
        if previous is None:
            _watermark_save(cursor, None, target)
            return _Chunk(previous, target, target)
        return _Chunk(previous, previous, target)
    high = _chunk_end(cursor, low, target)
    # Sorting a chunk of a million deltas in memory rather than on disk.
    cursor.execute("SET LOCAL work_mem = '256MB'")
    cursor.execute(_MERGE, {"lo": low, "hi": high})
    hourly_rows, daily_rows, weekly_rows = cursor.fetchone()
    _watermark_save(cursor, row_id, high)
    return _Chunk(previous, high, target, hourly_rows, daily_rows, weekly_rows)


def rollup_watermark() -> datetime | None:
    """Rollups hold every delta ingested before this time (None: no rollups yet)."""
    with connection.cursor() as cursor:
        cursor.execute(WATERMARK_SQL)
        row = cursor.fetchone()
    return row[0] if row else None


def _chunk_end(cursor, low: datetime, target: datetime) -> datetime:
    cursor.execute(_CHUNK_END_SQL, {"lo": low, "hi": target, "n": CHUNK_DELTAS})
    row = cursor.fetchone()
    if row is None:
        return target
    if row[0] > low:
        return row[0]
    # One transaction stored more than a chunk: take all of its deltas at once.
    cursor.execute(_NEXT_INGEST_SQL, {"lo": low, "hi": target})
    return cursor.fetchone()[0] or target


def _watermark_save(cursor, row_id: int | None, ingested_before: datetime) -> None:
    if row_id is None:
        cursor.execute(
            "INSERT INTO leaderboards_rollupwatermark (ingested_before, updated_at)"
            " VALUES (%s, now())",
            [ingested_before],
        )
    else:
        cursor.execute(
            "UPDATE leaderboards_rollupwatermark SET ingested_before = %s, updated_at = now()"
            " WHERE id = %s",
            [ingested_before, row_id],
        )
