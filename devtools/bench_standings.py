"""The standings benchmark behind `manage.py bench_standings`.

Loads 10,000,000 deltas of 100,000 players over the 30 days before today (UTC) into a
metric of their own, or reuses them when a previous run left them there; rolls them up;
and times a 7-day top-50 from the rollups against the plain GROUP BY over the delta log.

Play comes in sessions of five events four to seven minutes apart, started at uniformly
random times. Who plays a session follows the skew of ingestion/traffic.py (as the demo
and ingest-benchmark traffic do): Zipf-like weight 1/rank^1.1 (continuous approximation), so the
busiest player plays about one session in ten and most play a handful a month; about
14,000 players play on a given day and 47,000 in a week, of the 84,000 who play at all.
Deltas come from its bands (mostly 1..50, now and then up to 5,000). The data is
made in SQL, set-based, a million deltas per transaction, in event-time order.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction

from ingestion.traffic import DELTA_BANDS, PLAYER_SKEW
from leaderboards.models import Aggregation, SortOrder
from leaderboards.postgres.rollups import SAFETY_MARGIN, rollups_advance
from leaderboards.postgres.standings import standings_page
from leaderboards.ranking import Window

METRIC = "bench-standings"
PLAYER_PREFIX = "bench-"
SPAN = timedelta(days=30)
SESSION_EVENTS = 5
BATCH = 1_000_000  # a multiple of SESSION_EVENTS: a session never spans two batches
TOP = 50
GRAINS = ("hourly", "daily", "weekly")

_PLAYERS_SQL = """
INSERT INTO players_player (external_id)
SELECT %(prefix)s || lpad(n::text, 6, '0') FROM generate_series(1, %(players)s) n
ON CONFLICT (external_id) DO NOTHING
"""
_PLAYER_IDS_SQL = """
CREATE TEMP TABLE bench_player ON COMMIT DROP AS
SELECT substr(external_id, length(%(prefix)s) + 1)::int AS n, id
  FROM players_player WHERE external_id ~ ('^' || %(prefix)s || '[0-9]+$')
"""


def _delta_sql() -> str:
    """A delta drawn from DELTA_BANDS, the band picked by the uniform draw `e.r`."""
    cases, bound = [], 0.0
    for probability, low, high in DELTA_BANDS[:-1]:
        bound += probability
        cases.append(f"WHEN e.r < {bound} THEN {low} + floor(random() * {high - low + 1})")
    _, low, high = DELTA_BANDS[-1]
    return f"(CASE {' '.join(cases)} ELSE {low} + floor(random() * {high - low + 1}) END)::bigint"


# A uniform draw in [0, 1) from a hash of the session number, so that a session's events
# agree on its player and start.
_SESSION_DRAW = "((hashint8extended(s.k, {seed}) & 4503599627370495)::float8 / 4503599627370496)"
# The player: rank floor(x), x from the inverse of the continuous Zipf distribution on
# [1, players]. The time: the session's start in the batch's stretch of the 30 days, then
# four minutes per event and up to three more.
_DELTAS_SQL = f"""
INSERT INTO leaderboards_scoredelta (dedupe_key, player_id, metric, delta, created_at)
SELECT gen_random_uuid(), p.id, %(metric)s, {_delta_sql()}, e.created_at
  FROM (SELECT least(floor(power(1 - {_SESSION_DRAW.format(seed=1)}
                                     * (1 - power(%(players)s, 1 - %(skew)s)),
                                 1 / (1 - %(skew)s))), %(players)s)::int AS n,
               date_trunc('milliseconds',
                   %(start)s + {_SESSION_DRAW.format(seed=2)} * (%(stretch)s - interval '30 min')
                   + (s.j %% {SESSION_EVENTS}) * interval '4 min' + random() * interval '3 min')
                   AS created_at,
               random() AS r
          FROM (SELECT j, (%(first)s + j) / {SESSION_EVENTS} AS k
                  FROM generate_series(0, %(rows)s - 1) j) s) e
  JOIN bench_player p ON p.n = e.n
 ORDER BY e.created_at
"""


@dataclass(frozen=True, slots=True)
class Timing:
    rollup_ms: float
    raw_ms: float

    @property
    def speedup(self) -> float:
        return self.raw_ms / self.rollup_ms

    def __str__(self) -> str:
        return (
            f"rollup {self.rollup_ms:.0f} ms, raw {self.raw_ms:.0f} ms,"
            f" speedup {self.speedup:.1f} x"
        )


def _bench_deltas() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM leaderboards_scoredelta WHERE metric = %s", [METRIC])
        return cursor.fetchone()[0]


def _delete_partial_load() -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        for grain in GRAINS:
            cursor.execute(f"DELETE FROM leaderboards_{grain}rollup WHERE metric = %s", [METRIC])
        cursor.execute("DELETE FROM leaderboards_scoredelta WHERE metric = %s", [METRIC])


def load(*, deltas: int, players: int, report: Callable[[str], None]) -> None:
    """Insert `players` players and `deltas` deltas over the 30 days before today (UTC),
    BATCH per transaction, in event-time order as a live stream would store them."""
    with connection.cursor() as cursor:
        cursor.execute(_PLAYERS_SQL, {"prefix": PLAYER_PREFIX, "players": players})
        cursor.execute("SELECT date_trunc('day', now(), 'UTC') - %s", [SPAN])
        start = cursor.fetchone()[0]
    batches = -(-deltas // BATCH)
    started = time.monotonic()
    done = 0
    for batch in range(batches):
        rows = min(BATCH, deltas - done)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute(_PLAYER_IDS_SQL, {"prefix": PLAYER_PREFIX})
            cursor.execute(
                _DELTAS_SQL,
                {
                    "metric": METRIC,
                    "players": players,
                    "skew": PLAYER_SKEW,
                    "start": start + SPAN * batch / batches,
                    "stretch": SPAN / batches,
                    "first": done,
                    "rows": rows,
                },
            )
        done += rows
        elapsed = time.monotonic() - started
        report(f"loaded {done:,} deltas in {elapsed:.0f} s ({done / elapsed:,.0f}/s)")


def vacuum(*tables: str) -> None:
    # Fresh statistics for the planner and an up-to-date visibility map for index-only scans.
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def ensure_data(*, deltas: int, players: int, report: Callable[[str], None]) -> None:
    """Load the deltas unless exactly that many of the benchmark's metric are there."""
    present = _bench_deltas()
    if present == deltas:
        report(f"reusing the {present:,} deltas of metric {METRIC!r}")
        return
    if present:
        report(f"found {present:,} deltas of metric {METRIC!r}, not {deltas:,}: deleting them")
        _delete_partial_load()
    report(
        f"loading {deltas:,} deltas for {players:,} players over the {SPAN.days} days before"
        f" today (UTC), in sessions of {SESSION_EVENTS} events"
    )
    load(deltas=deltas, players=players, report=report)
    started = time.monotonic()
    vacuum("players_player", "leaderboards_scoredelta")
    report(f"VACUUM ANALYZE in {time.monotonic() - started:.0f} s")
    # The last batch is not rollup material for a few seconds (rollups.SAFETY_MARGIN).
    time.sleep(SAFETY_MARGIN.total_seconds() + 1)


def windows() -> dict[str, Window]:
    """The 7-day windows measured: the last whole ISO week (UTC) of the data, whatever day
    it was loaded on, and two that end near its end."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT max(created_at) FROM leaderboards_scoredelta WHERE metric = %s", [METRIC]
        )
        last: datetime = cursor.fetchone()[0]
    end = last.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    end -= timedelta(days=end.weekday())  # back to a Monday
    week = timedelta(days=7)
    # Aligned to the hour only, like a weekly board in Europe/Berlin in winter (local
    # midnight is 23:00 UTC): six days and 24 hours.
    hourly = end - timedelta(hours=1)
    # A rolling "last 7 days": partial hours at both ends as well.
    rolling = end - timedelta(hours=5, minutes=17, seconds=23, milliseconds=456)
    return {
        "UTC week": Window(metric=METRIC, starts_at=end - week, ends_at=end),
        "Berlin week": Window(metric=METRIC, starts_at=hourly - week, ends_at=hourly),
        "rolling week": Window(metric=METRIC, starts_at=rolling - week, ends_at=rolling),
    }


def _profile(window: Window) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT player_id) FROM leaderboards_scoredelta"
            " WHERE metric = %s AND created_at >= %s AND created_at < %s",
            [METRIC, window.starts_at, window.ends_at],
        )
        deltas, players = cursor.fetchone()
        rows = []
        for grain in ("daily", "weekly"):
            cursor.execute(
                f"SELECT count(*) FROM leaderboards_{grain}rollup"
                " WHERE metric = %s AND bucket >= %s AND bucket < %s",
                [METRIC, window.starts_at, window.ends_at],
            )
            rows.append(f"{cursor.fetchone()[0]:,} {grain}")
    return f"{deltas:,} deltas, {players:,} players; rollup rows: {', '.join(rows)}"


def time_window(window: Window, *, repeat: int) -> Timing:
    """Median times of the top-50 page with rollups and with the plain GROUP BY, taken in
    turns (so a busy moment of the machine hits both), after a run of each that warms the
    cache and checks that the two answers agree."""
    if standings_page(window, offset=0, limit=TOP) != standings_page(
        window, offset=0, limit=TOP, use_rollups=False
    ):
        raise AssertionError(f"rollup standings differ from the raw ones for {window}")
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(repeat):
        for use_rollups in (True, False):
            started = time.perf_counter()
            standings_page(window, offset=0, limit=TOP, use_rollups=use_rollups)
            times[use_rollups].append((time.perf_counter() - started) * 1000)
    return Timing(statistics.median(times[True]), statistics.median(times[False]))


def run_benchmark(
    *, deltas: int, players: int, repeat: int, report: Callable[[str], None]
) -> Timing:
    """Load or reuse the data, roll it up, time every window and aggregation (the UTC
    week's sum, the headline, last and with `repeat` runs; the others with 3)."""
    ensure_data(deltas=deltas, players=players, report=report)
    progress = rollups_advance()
    report(
        f"rollups_advance: {progress.hourly_rows:,} hourly, {progress.daily_rows:,} daily and"
        f" {progress.weekly_rows:,} weekly rows merged in {progress.chunks} transaction(s),"
        f" {progress.seconds:.1f} s"
    )
    vacuum(*(f"leaderboards_{grain}rollup" for grain in GRAINS))
    with connection.cursor() as cursor:
        counts = []
        for grain in GRAINS:
            cursor.execute(
                f"SELECT count(*) FROM leaderboards_{grain}rollup WHERE metric = %s", [METRIC]
            )
            counts.append(f"{cursor.fetchone()[0]:,} {grain}")
    report(f"rollups of the {deltas:,} deltas: {', '.join(counts)} rows")
    measured = windows()
    for name, window in measured.items():
        report(f"{name}: [{window.starts_at:%Y-%m-%d %H:%M}, {window.ends_at:%Y-%m-%d %H:%M}) UTC")
    report(f"UTC week: {_profile(measured['UTC week'])}")
    for name, window in measured.items():
        for aggregation in Aggregation.values:
            if (name, aggregation) == ("UTC week", Aggregation.SUM):
                continue
            order = SortOrder.ASC if aggregation == Aggregation.MIN else SortOrder.DESC
            timing = time_window(
                Window(
                    metric=METRIC,
                    starts_at=window.starts_at,
                    ends_at=window.ends_at,
                    aggregation=aggregation,
                    sort_order=order,
                ),
                repeat=3,
            )
            report(f"{name}, {aggregation} ({order}): {timing}")
    headline = time_window(measured["UTC week"], repeat=repeat)
    report(f"UTC week, sum (desc), {repeat} runs: {headline}")
    return headline
