"""Standings computed in PostgreSQL from the score delta log and its rollups.

The truth that Redis caches: a window's score per player is the aggregate of that player's
deltas of one metric whose `created_at` lies in [starts_at, ends_at). Ranks are competition
ranks (1 + the number of players with a strictly better score); within a tie, players are
ordered by external id, byte-wise, the same order Redis gives.

Scores come from the rollups (leaderboards/rollups.py) where they fit, the coarsest grain
first: weekly rows for the whole ISO weeks (from Monday 00:00 UTC) of the window, daily
rows for the whole UTC days around them, hourly rows for the whole hours around those, and
the delta log for the partial hours at the edges and for deltas ingested at or after the
rollup watermark (which the rollups do not hold yet). A window that is exactly one bucket
(a UTC day, an ISO week) reads that bucket's rows, one per player, and joins the tail to
them instead of grouping everything again. The answer is the same as the plain GROUP BY
over the log (`use_rollups=False`), only cheaper: a week is one row per player instead of
every one of their events.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

from leaderboards.models import Aggregation, SortOrder
from leaderboards.rollups import WATERMARK_SQL, rollup_watermark
from leaderboards.store import Page, Standing


def _sum(value: str) -> str:
    """An exact bigint SUM without numeric: SUM(bigint) accumulates in numeric, and turning
    a hundred thousand of those back into bigint costs more than reading the rows. Two
    int4 halves (value = high * 2^31 + low, low in [0, 2^31)) sum in plain bigint instead;
    a value beyond +-2^62 fails the cast loudly rather than adding up wrong."""
    return f"(SUM(({value} >> 31)::int4) * 2147483648 + SUM(({value} & 2147483647)::int4))"


_AGGREGATES = {
    Aggregation.SUM: _sum("d.delta"),
    Aggregation.MAX: "MAX(d.delta)",
    Aggregation.MIN: "MIN(d.delta)",
    # Ties on created_at go to the later arrival, then to the dedupe key, so every
    # computation picks the same value.
    Aggregation.LAST: "(ARRAY_AGG(d.delta ORDER BY d.created_at DESC, d.ingested_at DESC,"
    " d.dedupe_key DESC))[1]",
}

# What each aggregation reads from a rollup row, and from a delta in its place.
_ROLLUP_COLUMNS = {
    Aggregation.SUM: "total AS v",
    Aggregation.MAX: "best AS v",
    Aggregation.MIN: "worst AS v",
    Aggregation.LAST: "last AS v, last_at AS at, last_ingested_at AS ing, last_key AS key",
}
_DELTA_COLUMNS = {
    Aggregation.SUM: "delta AS v",
    Aggregation.MAX: "delta AS v",
    Aggregation.MIN: "delta AS v",
    Aggregation.LAST: "delta AS v, created_at AS at, ingested_at AS ing, dedupe_key AS key",
}
_COMBINE = {
    Aggregation.SUM: _sum("u.v"),
    Aggregation.MAX: "MAX(u.v)",
    Aggregation.MIN: "MIN(u.v)",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Window:
    """What a ranking is over: a metric, a time range and how scores combine and sort."""

    metric: str
    starts_at: datetime | None
    ends_at: datetime | None
    aggregation: str = Aggregation.SUM
    sort_order: str = SortOrder.DESC

    @classmethod
    def of_board(cls, board) -> Window:
        return cls(
            board.metric, board.starts_at, board.ends_at, board.aggregation, board.sort_order
        )


# -- where the scores come from ---------------------------------------------------------

Span = tuple[datetime | None, datetime | None]  # [start, end); None = open


def _utc(moment: datetime) -> datetime:
    # Naive times reach PostgreSQL as timestamps read in the session zone, UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class _Grain:
    """A rollup table and its buckets: `step` long, starting at `origin` + k * `step`."""

    table: str
    step: timedelta
    origin: datetime

    def floor(self, moment: datetime) -> datetime:
        return self.origin + (_utc(moment) - self.origin) // self.step * self.step

    def ceil(self, moment: datetime) -> datetime:
        floor = self.floor(moment)
        return floor if floor == _utc(moment) else floor + self.step


_HOURS = _Grain("leaderboards_hourlyrollup", timedelta(hours=1), _EPOCH)
# ISO weeks, as date_trunc('week', ...) in rollups.py: 1970-01-05 was a Monday.
_GRAINS = (  # the coarsest first
    _Grain("leaderboards_weeklyrollup", timedelta(weeks=1), datetime(1970, 1, 5, tzinfo=UTC)),
    _Grain("leaderboards_dailyrollup", timedelta(days=1), _EPOCH),
    _HOURS,
)


@dataclass(frozen=True, slots=True)
class _Plan:
    """How a window splits: spans of whole rollup buckets, raw edges, and the span the
    rollups cover (whose deltas ingested from the watermark on are read raw)."""

    buckets: list[tuple[_Grain, Span]]
    edges: list[Span]
    covered: Span

    def is_one_bucket(self) -> bool:
        """Whether the window is exactly one bucket of a grain (a UTC day, an ISO week)."""
        if len(self.buckets) != 1 or self.edges:
            return False
        grain, (lo, hi) = self.buckets[0]
        return lo is not None and hi is not None and hi - lo == grain.step


def _before(a: datetime | None, b: datetime | None) -> bool:
    """a < b, where a None start is the beginning of time and a None end its end."""
    return a is None or b is None or a < b


def _split(span: Span, grains: Sequence[_Grain]) -> tuple[list[tuple[_Grain, Span]], list[Span]]:
    """Whole buckets of the coarsest grain that fits, the rest of the span split the same
    way by the finer grains, and what is left when none fits (raw edges)."""
    if not grains:
        return [], [span]
    grain, finer = grains[0], grains[1:]
    lo, hi = span
    inner = (None if lo is None else grain.ceil(lo), None if hi is None else grain.floor(hi))
    if not _before(*inner):
        return _split(span, finer)
    buckets, edges = [(grain, inner)], []
    for side in ((lo, inner[0]), (inner[1], hi)):
        if side[0] is not None and side[1] is not None and side[0] < side[1]:
            side_buckets, side_edges = _split(side, finer)
            buckets += side_buckets
            edges += side_edges
    return buckets, edges


def _plan(window: Window) -> _Plan | None:
    """The split of the window into rollup buckets and raw edges; None when it holds no
    whole hour (then it is all raw)."""
    start = None if window.starts_at is None else _utc(window.starts_at)
    end = None if window.ends_at is None else _utc(window.ends_at)
    covered = (
        None if start is None else _HOURS.ceil(start),
        None if end is None else _HOURS.floor(end),
    )
    if not _before(*covered):
        return None
    buckets, edges = _split((start, end), _GRAINS)
    return _Plan(buckets, edges, covered)


class _Params(dict):
    """Query parameters named as they are added."""

    def add(self, value) -> str:
        name = f"p{len(self)}"
        self[name] = value
        return f"%({name})s"


def _span_conditions(params: _Params, column: str, span: Span) -> str:
    lo, hi = span
    conditions = ""
    if lo is not None:
        conditions += f" AND {column} >= {params.add(lo)}"
    if hi is not None:
        conditions += f" AND {column} < {params.add(hi)}"
    return conditions


def _bucket_rows_sql(
    window: Window, grain: _Grain, span: Span, metric: str, params: _Params
) -> str:
    return (
        f"SELECT player_id, {_ROLLUP_COLUMNS[window.aggregation]} FROM {grain.table}"
        f" WHERE metric = {metric}{_span_conditions(params, 'bucket', span)}"
    )


def _raw_rows_sql(
    window: Window, plan: _Plan, watermark: datetime, metric: str, params: _Params
) -> str:
    """UNION ALL of the deltas the rollups do not hold: the edges, and the tail past the
    watermark."""
    columns = _DELTA_COLUMNS[window.aggregation]
    parts = [
        f"SELECT player_id, {columns} FROM leaderboards_scoredelta"
        f" WHERE metric = {metric}{_span_conditions(params, 'created_at', span)}"
        for span in plan.edges
    ]
    # The tail past the watermark. The watermark read before this statement is for the
    # planner (it makes the ingest-time index the obvious path); the one read inside it,
    # never earlier since the watermark only moves on, is the one the rollups match.
    parts.append(
        f"SELECT player_id, {columns} FROM leaderboards_scoredelta"
        f" WHERE ingested_at >= {params.add(watermark)}"
        f" AND ingested_at >= coalesce(({WATERMARK_SQL}), '-infinity')"
        f" AND metric = {metric}{_span_conditions(params, 'created_at', plan.covered)}"
    )
    return " UNION ALL ".join(parts)


def _grouped_sql(window: Window, rows: str) -> str:
    """One row per player of `rows`: (player_id, v), and for `last` the (at, ing, key) of
    the latest event, whose value v is."""
    if window.aggregation == Aggregation.LAST:
        return (
            f"SELECT DISTINCT ON (u.player_id) u.* FROM ({rows}) u"
            " ORDER BY u.player_id, u.at DESC, u.ing DESC, u.key DESC"
        )
    return (
        f"SELECT u.player_id, {_COMBINE[window.aggregation]} AS v FROM ({rows}) u"
        " GROUP BY u.player_id"
    )


def _epoch_ms(moment: str) -> str:
    return f"floor(extract(epoch FROM {moment}) * 1000)::bigint"


# How a bucket's row (a) and the tail's (b) of one player combine; either may be missing.
_A_IS_LATER = "b.player_id IS NULL OR (a.at, a.ing, a.key) > (b.at, b.ing, b.key)"
_JOIN_COMBINE = {
    Aggregation.SUM: "coalesce(a.v, 0) + coalesce(b.v, 0)",
    Aggregation.MAX: "greatest(a.v, b.v)",
    Aggregation.MIN: "least(a.v, b.v)",
    Aggregation.LAST: f"CASE WHEN {_A_IS_LATER} THEN a.v ELSE b.v END",
}
_JOIN_LAST_AT = f"CASE WHEN {_A_IS_LATER} THEN a.at ELSE b.at END"


@dataclass(frozen=True, slots=True)
class _Scores:
    """SQL giving (player_id, score[, last_ms]) per player, its parameters, and whether it
    reads rollups."""

    sql: str
    params: dict
    rollups: bool


def _rollup_scores(window: Window, *, last_ms: bool = False) -> _Scores | None:
    plan = _plan(window)
    watermark = rollup_watermark() if plan is not None else None
    if watermark is None:
        return None
    params = _Params()
    metric = params.add(window.metric)
    buckets = [
        _bucket_rows_sql(window, grain, span, metric, params) for grain, span in plan.buckets
    ]
    raw = _raw_rows_sql(window, plan, watermark, metric, params)
    if plan.is_one_bucket():
        # Its rows hold each player once: they are joined with the tail (a minute of deltas)
        # rather than grouped again with it, so no hash table of every player is built.
        player, score = "coalesce(a.player_id, b.player_id)", _JOIN_COMBINE[window.aggregation]
        at = _JOIN_LAST_AT
        source = (
            f"({buckets[0]}) a FULL JOIN ({_grouped_sql(window, raw)}) b"
            " ON b.player_id = a.player_id"
        )
    else:
        player, score, at = "g.player_id", "g.v", "g.at"
        source = f"({_grouped_sql(window, ' UNION ALL '.join([*buckets, raw]))}) g"
    if not last_ms:
        extra = ""
    elif window.aggregation == Aggregation.LAST:
        extra = f", {_epoch_ms(at)} AS last_ms"
    else:
        extra = ", NULL::bigint AS last_ms"
    sql = f"SELECT {player} AS player_id, {score} AS score{extra} FROM {source}"
    return _Scores(sql, dict(params), rollups=True)


def _window_conditions(window: Window) -> tuple[list[str], dict]:
    conditions = ["d.metric = %(metric)s"]
    params: dict = {"metric": window.metric}
    if window.starts_at is not None:
        conditions.append("d.created_at >= %(starts_at)s")
        params["starts_at"] = window.starts_at
    if window.ends_at is not None:
        conditions.append("d.created_at < %(ends_at)s")
        params["ends_at"] = window.ends_at
    return conditions, params


def raw_scores_sql(window: Window) -> tuple[str, dict]:
    """The plain computation: one GROUP BY over the window's deltas in the log."""
    conditions, params = _window_conditions(window)
    sql = (
        f"SELECT d.player_id, {_AGGREGATES[window.aggregation]} AS score"
        " FROM leaderboards_scoredelta d"
        f" WHERE {' AND '.join(conditions)}"
        " GROUP BY d.player_id"
    )
    return sql, params


def _scores(window: Window, use_rollups: bool) -> _Scores:
    rollup = _rollup_scores(window) if use_rollups else None
    return rollup or _Scores(*raw_scores_sql(window), rollups=False)


def scores_sql(window: Window, *, use_rollups: bool = True) -> tuple[str, dict]:
    """SQL (and its parameters) giving (player_id, score) for every player of the window;
    the base of every ranking query here and of the final standings (leaderboards/final.py).
    Reads the rollup watermark, so build it right before running it."""
    scores = _scores(window, use_rollups)
    return scores.sql, scores.params


# -- running the queries ----------------------------------------------------------------

# A rollup query reads a few hundred thousand narrow rows into about as many groups as
# there are players. Parallel workers would each aggregate a share into nearly as many
# groups, to be merged again: slower than one process, but through the UNION ALL the
# planner cannot tell (it guesses 200 groups), so it is told.
_PARALLEL = "max_parallel_workers_per_gather"


def _parallel_off(cursor) -> str:
    cursor.execute(f"SELECT current_setting('{_PARALLEL}'), set_config('{_PARALLEL}', '0', true)")
    return cursor.fetchone()[0]


def _parallel_restore(cursor, previous: str) -> None:
    cursor.execute(f"SELECT set_config('{_PARALLEL}', %s, true)", [previous])


@contextmanager
def _cursor(scores: _Scores) -> Iterator:
    """A cursor for one query; a rollup query gets a transaction (or a savepoint) of its
    own to switch parallel workers off in."""
    if not scores.rollups:
        with connection.cursor() as cursor:
            yield cursor
        return
    with transaction.atomic(), connection.cursor() as cursor:
        previous = _parallel_off(cursor)
        yield cursor
        # Matters inside a caller's transaction; on an error, the rollback undoes it.
        _parallel_restore(cursor, previous)


def _server_side(scores: _Scores, sql: str, name: str, chunk: int) -> Iterator[tuple]:
    """Rows of `sql` through a server-side cursor, in the caller's transaction."""
    connection.ensure_connection()
    with (
        connection.wrap_database_errors,
        connection.connection.cursor(name=name) as cursor,
        connection.connection.cursor() as settings,
    ):
        cursor.itersize = chunk
        previous = _parallel_off(settings) if scores.rollups else None
        cursor.execute(sql, scores.params)  # plans the query: the setting may go back now
        if previous is not None:
            _parallel_restore(settings, previous)
        yield from cursor


# -- rankings ---------------------------------------------------------------------------


def _order(window: Window) -> str:
    return "DESC" if window.sort_order == SortOrder.DESC else "ASC"


def _ranked_sql(window: Window, scores: _Scores) -> str:
    direction = _order(window)
    return (
        f"WITH scores AS ({scores.sql}),"
        " ranked AS ("
        "  SELECT p.external_id, s.score,"
        f"   RANK() OVER (ORDER BY s.score {direction}) AS rank,"
        f'   ROW_NUMBER() OVER (ORDER BY s.score {direction}, p.external_id COLLATE "C")'
        "     AS position,"
        "   COUNT(*) OVER () AS total"
        "  FROM scores s JOIN players_player p ON p.id = s.player_id)"
    )


def _page_sql(window: Window, scores: _Scores) -> str:
    """One page without ranking everybody: the score at the page's last place bounds the
    candidates, and only they are joined to players, ordered and ranked. Ranks and places
    within them are the global ones, since whoever is ahead of a candidate is one too."""
    direction = _order(window)
    better = ">=" if window.sort_order == SortOrder.DESC else "<="
    return (
        f"WITH scores AS MATERIALIZED ({scores.sql}),"
        " cutoff AS ("
        f"  SELECT score FROM scores ORDER BY score {direction}"
        "   OFFSET %(offset)s + %(limit)s - 1 LIMIT 1),"
        " candidates AS ("
        "  SELECT s.score,"
        "   (SELECT p.external_id FROM players_player p WHERE p.id = s.player_id)"
        '     COLLATE "C" AS external_id'
        f"  FROM scores s WHERE NOT EXISTS (SELECT FROM cutoff) OR s.score {better}"
        "   (SELECT score FROM cutoff)),"
        " ranked AS ("
        "  SELECT external_id, score,"
        f"   RANK() OVER (ORDER BY score {direction}) AS rank,"
        f"   ROW_NUMBER() OVER (ORDER BY score {direction}, external_id) AS position"
        "  FROM candidates)"
        " SELECT rank, external_id, score, (SELECT COUNT(*) FROM scores) AS total"
        " FROM ranked WHERE position > %(offset)s ORDER BY position LIMIT %(limit)s"
    )


def standings_page(window: Window, *, offset: int, limit: int, use_rollups: bool = True) -> Page:
    if limit <= 0:
        return Page(count=standings_count(window, use_rollups=use_rollups), standings=[])
    scores = _scores(window, use_rollups)
    with _cursor(scores) as cursor:
        cursor.execute(
            _page_sql(window, scores), {**scores.params, "offset": offset, "limit": limit}
        )
        rows = cursor.fetchall()
    total = rows[0][3] if rows else standings_count(window, use_rollups=use_rollups)
    return Page(count=total, standings=[Standing(r[0], r[1], int(r[2])) for r in rows])


def standings_count(window: Window, *, use_rollups: bool = True) -> int:
    scores = _scores(window, use_rollups)
    with _cursor(scores) as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({scores.sql}) s", scores.params)
        return cursor.fetchone()[0]


def standings_around(window: Window, player_id: str, n: int, *, use_rollups: bool = True) -> Page:
    scores = _scores(window, use_rollups)
    sql = (
        f"{_ranked_sql(window, scores)},"
        " me AS (SELECT position FROM ranked WHERE external_id = %(player)s)"
        " SELECT r.rank, r.external_id, r.score, r.total FROM ranked r, me"
        " WHERE r.position BETWEEN me.position - %(n)s AND me.position + %(n)s"
        " ORDER BY r.position"
    )
    with _cursor(scores) as cursor:
        cursor.execute(sql, {**scores.params, "player": player_id, "n": n})
        rows = cursor.fetchall()
    if not rows:
        return Page(count=standings_count(window, use_rollups=use_rollups), standings=[])
    return Page(count=rows[0][3], standings=[Standing(r[0], r[1], int(r[2])) for r in rows])


def standings_for_players(
    window: Window, player_ids: Sequence[str], *, use_rollups: bool = True
) -> dict[str, Standing]:
    if not player_ids:
        return {}
    scores = _scores(window, use_rollups)
    # Ranks need every score but no names: only the players asked for are joined.
    sql = (
        f"WITH scores AS ({scores.sql}),"
        f" ranked AS (SELECT player_id, score, RANK() OVER (ORDER BY score {_order(window)})"
        "  AS rank FROM scores)"
        " SELECT r.rank, p.external_id, r.score FROM ranked r"
        " JOIN players_player p ON p.id = r.player_id WHERE p.external_id = ANY(%(ids)s)"
    )
    with _cursor(scores) as cursor:
        cursor.execute(sql, {**scores.params, "ids": list(player_ids)})
        return {r[1]: Standing(r[0], r[1], int(r[2])) for r in cursor.fetchall()}


def standings_stream(
    window: Window, chunk: int = 10_000, *, use_rollups: bool = True
) -> Iterator[tuple[str, int, int | None]]:
    """Every (player external id, score, last_ms) of the window, streamed through a
    server-side cursor so a board of millions of players does not sit in memory at once.
    last_ms is the epoch milliseconds of the event behind a `last` score (None for the
    other aggregations): the Redis store needs it to order later events. Must run inside a
    transaction."""
    scores = _rollup_scores(window, last_ms=True) if use_rollups else None
    if scores is None and window.aggregation == Aggregation.LAST:
        conditions, params = _window_conditions(window)
        scores = _Scores(
            "SELECT DISTINCT ON (d.player_id) d.player_id, d.delta AS score,"
            f"  {_epoch_ms('d.created_at')} AS last_ms"
            " FROM leaderboards_scoredelta d"
            f" WHERE {' AND '.join(conditions)}"
            " ORDER BY d.player_id, d.created_at DESC, d.ingested_at DESC, d.dedupe_key DESC",
            params,
            rollups=False,
        )
    elif scores is None:
        raw, params = raw_scores_sql(window)
        scores = _Scores(
            f"SELECT r.player_id, r.score, NULL::bigint AS last_ms FROM ({raw}) r",
            params,
            rollups=False,
        )
    sql = (
        f"SELECT p.external_id, s.score, s.last_ms FROM ({scores.sql}) s"
        " JOIN players_player p ON p.id = s.player_id"
    )
    for external_id, score, last_ms in _server_side(scores, sql, "standings_stream", chunk):
        yield external_id, int(score), last_ms


def standings_ranked_stream(
    window: Window, chunk: int = 10_000, *, use_rollups: bool = True
) -> Iterator[Standing]:
    """The whole ranking in board order through a server-side cursor (CSV export of big
    boards). Must run inside a transaction."""
    scores = _scores(window, use_rollups)
    sql = f"{_ranked_sql(window, scores)} SELECT rank, external_id, score FROM ranked"
    sql += " ORDER BY position"
    for rank, external_id, score in _server_side(scores, sql, "standings_ranked_stream", chunk):
        yield Standing(rank, external_id, int(score))
