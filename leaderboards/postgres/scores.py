"""Each player's score over a window, as SQL: the window planned over the rollup grains.

A window's score per player is the aggregate of that player's deltas of one metric whose
`created_at` lies in [starts_at, ends_at). Scores come from the rollups
(leaderboards/postgres/rollups.py) where they fit, the coarsest grain first: weekly rows for the
whole ISO weeks (from Monday 00:00 UTC) of the window, daily rows for the whole UTC days
around them, hourly rows for the whole hours around those, and the delta log for the
partial hours at the edges and for deltas ingested at or after the rollup watermark (which
the rollups do not hold yet). A window that is exactly one bucket (a UTC day, an ISO week)
reads that bucket's rows, one per player, and joins the tail to them instead of grouping
everything again. The answer is the same as the plain GROUP BY over the log
(`use_rollups=False`), only cheaper: a week is one row per player instead of every one of
their events.

A board's window leaves out what removals cut (ScoreCut, issue 21): a player's deltas
stamped at or before their cut-off on that board. From the log that is one more condition.
The rollups are per metric, not per board, so a cut player's rollup rows that may hold
deltas from before the cut (a bucket starting at or before it) are left out, and the
rest of the bucket holding the cut is read finer instead: the player's hourly rows after
the cut's hour up to that bucket's end, and their deltas from the cut to the end of its
hour (those ingested before the watermark; the tail holds the rest). A handful of index
probes per cut, and nothing at all for a board without cuts or a range that is no board.

Where the retention has dropped weeks of the log (leaderboards/postgres/partitions.py), a window
whose raw parts reach into them is refused (DeltasRetired) rather than answered short.

The SQL built here is run by leaderboards/postgres/standings.py (rankings) and
leaderboards/postgres/final.py (frozen results).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from leaderboards.aggregations import JOINED_LAST_AT, Rule
from leaderboards.postgres.partitions import deltas_retained
from leaderboards.postgres.rollups import WATERMARK_SQL, rollup_watermark
from leaderboards.ranking import Window
from leaderboards.windows import EPOCH, clamp_window_instant


def _reached(rule: Rule, rows: str) -> tuple[str, str]:
    """(score, at_ms) aggregated over `rows`' (v, at_ms) columns."""
    return rule.reached_score.format(rows=rows), rule.reached_at.format(rows=rows)


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
    unit: str  # as date_trunc names it

    def end_sql(self, moment: str) -> str:
        """SQL: the end of the bucket holding `moment` (a timestamptz expression)."""
        return f"(date_trunc('{self.unit}', {moment}, 'UTC') + interval '1 {self.unit}')"

    def floor(self, moment: datetime) -> datetime:
        return self.origin + (_utc(moment) - self.origin) // self.step * self.step

    def ceil(self, moment: datetime) -> datetime:
        floor = self.floor(moment)
        return floor if floor == _utc(moment) else floor + self.step


_HOURS = _Grain("leaderboards_hourlyrollup", timedelta(hours=1), EPOCH, "hour")
# ISO weeks, as date_trunc('week', ...) in rollups.py: 1970-01-05 was a Monday.
_GRAINS = (  # the coarsest first
    _Grain(
        "leaderboards_weeklyrollup", timedelta(weeks=1), datetime(1970, 1, 5, tzinfo=UTC), "week"
    ),
    _Grain("leaderboards_dailyrollup", timedelta(days=1), EPOCH, "day"),
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
    # Clamped, so rounding out to a bucket cannot step past the end of datetime (boards
    # stored before leaderboards/windows.py bounded them; no event lies beyond the bounds).
    start = None if window.starts_at is None else clamp_window_instant(_utc(window.starts_at))
    end = None if window.ends_at is None else clamp_window_instant(_utc(window.ends_at))
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


def _carries_reached(window: Window) -> bool:
    """Whether the rows of this window carry at_ms (for `last`, (at, ing, key) do)."""
    return window.earliest and not window.rule.picks_latest


def _not_cut(board: str | None, stamped: str) -> str:
    """A condition keeping rows `r` (deltas, or rollup buckets) that no cut on the board
    reaches: stamped (their bucket starting) after the player's cut-off, if any."""
    if board is None:
        return ""
    return (
        " AND NOT EXISTS (SELECT FROM leaderboards_scorecut c WHERE c.board_id = "
        f"{board} AND c.player_id = r.player_id AND c.cut_at >= r.{stamped})"
    )


def _rollup_columns(window: Window) -> str:
    columns = window.rule.rollup_select
    if _carries_reached(window):
        columns += f", {_epoch_ms(window.rule.reached_column)} AS at_ms"
    return columns


def _bucket_rows_sql(
    window: Window, grain: _Grain, span: Span, metric: str, params: _Params, board: str | None
) -> str:
    return (
        f"SELECT player_id, {_rollup_columns(window)} FROM {grain.table} r"
        f" WHERE metric = {metric}{_span_conditions(params, 'bucket', span)}"
        f"{_not_cut(board, 'bucket')}"
    )


def _delta_columns(window: Window) -> str:
    columns = window.rule.delta_select
    if _carries_reached(window):
        columns += f", {_epoch_ms('created_at')} AS at_ms"
    return columns


def _raw_rows_sql(
    window: Window,
    plan: _Plan,
    watermark: datetime,
    metric: str,
    params: _Params,
    board: str | None,
) -> str:
    """UNION ALL of the deltas the rollups do not hold: the edges, and the tail past the
    watermark."""
    columns = _delta_columns(window)
    not_cut = _not_cut(board, "created_at")
    parts = [
        f"SELECT player_id, {columns} FROM leaderboards_scoredelta r"
        f" WHERE metric = {metric}{_span_conditions(params, 'created_at', span)}{not_cut}"
        for span in plan.edges
    ]
    # The tail past the watermark. The watermark read before this statement is for the
    # planner (it makes the ingest-time index the obvious path); the one read inside it,
    # never earlier since the watermark only moves on, is the one the rollups match.
    parts.append(
        f"SELECT player_id, {columns} FROM leaderboards_scoredelta r"
        f" WHERE ingested_at >= {params.add(watermark)}"
        f" AND ingested_at >= coalesce(({WATERMARK_SQL}), '-infinity')"
        f" AND metric = {metric}{_span_conditions(params, 'created_at', plan.covered)}"
        f"{not_cut}"
    )
    return " UNION ALL ".join(parts)


def _cut_rows_sql(
    window: Window, plan: _Plan, metric: str, params: _Params, board: str
) -> list[str]:
    """The rows that stand in for the cut players' buckets left out: for a cut falling in
    a span of whole buckets, what the bucket holding it has after it. That is the player's
    hourly rows from the next hour to that bucket's end, and their deltas after the cut
    within its hour that the rollups hold (ingested before the watermark; the tail reads
    the rest). Each is looked up per cut (LATERAL, kept from being flattened by OFFSET 0):
    an index probe per hour by (metric, bucket, player), and a range of the log's (metric,
    created_at) index under an hour long, never a scan of the window."""
    parts = []
    for grain, span in plan.buckets:
        cuts = (
            f" FROM leaderboards_scorecut c WHERE c.board_id = {board}"
            f"{_span_conditions(params, 'c.cut_at', span)}"
        )
        if grain is not _HOURS:
            parts.append(
                f"SELECT r.* FROM (SELECT c.player_id, generate_series("
                f"{_HOURS.end_sql('c.cut_at')}, {grain.end_sql('c.cut_at')} - interval"
                f" '1 hour', interval '1 hour') AS hour{cuts}) h CROSS JOIN LATERAL"
                f" (SELECT player_id, {_rollup_columns(window)} FROM {_HOURS.table} r"
                f" WHERE r.metric = {metric} AND r.bucket = h.hour"
                " AND r.player_id = h.player_id OFFSET 0) r"
            )
        parts.append(
            f"SELECT r.* FROM (SELECT c.player_id, c.cut_at{cuts}) h CROSS JOIN LATERAL"
            f" (SELECT player_id, {_delta_columns(window)} FROM leaderboards_scoredelta r"
            f" WHERE r.metric = {metric} AND r.created_at > h.cut_at"
            f" AND r.created_at < {_HOURS.end_sql('h.cut_at')} AND r.player_id = h.player_id"
            f" AND r.ingested_at < coalesce(({WATERMARK_SQL}), '-infinity') OFFSET 0) r"
        )
    return parts


def _grouped_sql(window: Window, rows: str) -> str:
    """One row per player of `rows`: (player_id, v), and for `last` the (at, ing, key) of
    the latest event, whose value v is; for the `earliest` tie-break also at_ms."""
    if window.rule.picks_latest:
        return (
            f"SELECT DISTINCT ON (u.player_id) u.* FROM ({rows}) u"
            " ORDER BY u.player_id, u.at DESC, u.ing DESC, u.key DESC"
        )
    if _carries_reached(window):
        score, at_ms = _reached(window.rule, "u")
        return (
            f"SELECT u.player_id, {score} AS v, {at_ms} AS at_ms FROM ({rows}) u"
            " GROUP BY u.player_id"
        )
    return (
        f"SELECT u.player_id, {window.rule.over_rows.format(v='u.v')} AS v FROM ({rows}) u"
        " GROUP BY u.player_id"
    )


def _epoch_ms(moment: str) -> str:
    return f"floor(extract(epoch FROM {moment}) * 1000)::bigint"


@dataclass(frozen=True, slots=True)
class Scores:
    """SQL giving (player_id, score[, at_ms]) per player, its parameters, and whether it
    reads rollups."""

    sql: str
    params: dict
    rollups: bool


def _rollup_scores(window: Window, *, times: bool) -> Scores | None:
    plan = _plan(window)
    watermark = rollup_watermark() if plan is not None else None
    if plan is None or watermark is None:
        return None
    deltas_retained(plan.edges)  # the rollups hold the dropped weeks, not their edges
    params = _Params()
    metric = params.add(window.metric)
    board = None if window.board_id is None else params.add(window.board_id)
    buckets = [
        _bucket_rows_sql(window, grain, span, metric, params, board) for grain, span in plan.buckets
    ]
    raw = _raw_rows_sql(window, plan, watermark, metric, params, board)
    if board is not None:
        raw = " UNION ALL ".join([raw, *_cut_rows_sql(window, plan, metric, params, board)])
    if plan.is_one_bucket():
        # Its rows hold each player once: they are joined with the tail (a minute of deltas)
        # rather than grouped again with it, so no hash table of every player is built.
        player, score = "coalesce(a.player_id, b.player_id)", window.rule.joined
        last_at, reached = JOINED_LAST_AT, window.rule.joined_reached
        source = (
            f"({buckets[0]}) a FULL JOIN ({_grouped_sql(window, raw)}) b"
            " ON b.player_id = a.player_id"
        )
    else:
        player, score, last_at, reached = "g.player_id", "g.v", "g.at", "g.at_ms"
        source = f"({_grouped_sql(window, ' UNION ALL '.join([*buckets, raw]))}) g"
    if not (times or window.earliest):
        extra = ""
    elif window.rule.picks_latest:
        extra = f", {_epoch_ms(last_at)} AS at_ms"
    elif window.earliest:
        extra = f", {reached} AS at_ms"
    else:
        extra = ", NULL::bigint AS at_ms"
    sql = f"SELECT {player} AS player_id, {score} AS score{extra} FROM {source}"
    return Scores(sql, dict(params), rollups=True)


def window_conditions(window: Window) -> tuple[list[str], dict]:
    conditions = ["d.metric = %(metric)s"]
    params: dict = {"metric": window.metric}
    if window.starts_at is not None:
        conditions.append("d.created_at >= %(starts_at)s")
        params["starts_at"] = window.starts_at
    if window.ends_at is not None:
        conditions.append("d.created_at < %(ends_at)s")
        params["ends_at"] = window.ends_at
    return conditions, params


def counted_deltas(window: Window, players: Sequence[int] | None) -> tuple[str, dict]:
    """The FROM clause of the window's deltas that count, as `d` (of the given player pks
    only, when given), and its parameters: on a board, those no removal cut off (ScoreCut).
    On a tournament board that is a participant's
    deltas stamped at or after their join (`join_required`) and each player's first
    `max_attempts` of those by created_at, then dedupe key."""
    conditions, params = window_conditions(window)
    if players is not None:
        conditions.append("d.player_id = ANY(%(players)s)")
        params["players"] = list(players)
    if window.board_id is not None:
        # Deltas a removal cut off on this board count nowhere on it, as attempts neither.
        conditions.append(
            "NOT EXISTS (SELECT FROM leaderboards_scorecut c WHERE c.board_id = %(cut_board)s"
            " AND c.player_id = d.player_id AND c.cut_at >= d.created_at)"
        )
        params["cut_board"] = window.board_id
    where = " AND ".join(conditions)
    if not window.tournament:
        return f"leaderboards_scoredelta d WHERE {where}", params
    joined = ""
    if window.join_required:
        joined = (
            " JOIN leaderboards_participant pt ON pt.board_id = %(board)s"
            " AND pt.player_id = d.player_id AND d.created_at >= pt.joined_at"
        )
        params["board"] = window.board_id
    counted = f"SELECT d.* FROM leaderboards_scoredelta d{joined} WHERE {where}"
    if window.max_attempts is not None:
        params["attempts"] = window.max_attempts
        counted = (
            "SELECT * FROM (SELECT d.*, ROW_NUMBER() OVER (PARTITION BY d.player_id"
            f"  ORDER BY d.created_at, d.dedupe_key) AS attempt FROM ({counted}) d) a"
            " WHERE a.attempt <= %(attempts)s"
        )
    return f"({counted}) d", params


def _raw_scores(window: Window, *, times: bool, players: Sequence[int] | None = None) -> Scores:
    """The plain computation: one GROUP BY over the window's deltas in the log; with
    `times` or the `earliest` tie-break, at_ms too."""
    deltas_retained([(window.starts_at, window.ends_at)])
    source, params = counted_deltas(window, players)
    if window.rule.picks_latest and (times or window.earliest):
        sql = (
            "SELECT DISTINCT ON (d.player_id) d.player_id, d.delta AS score,"
            f"  {_epoch_ms('d.created_at')} AS at_ms FROM {source}"
            " ORDER BY d.player_id, d.created_at DESC, d.ingested_at DESC, d.dedupe_key DESC"
        )
    elif window.earliest:
        score, at_ms = _reached(window.rule, "d")
        sql = (
            f"SELECT d.player_id, {score} AS score, {at_ms} AS at_ms FROM"
            f" (SELECT d.player_id, {_delta_columns(window)} FROM {source}) d"
            " GROUP BY d.player_id"
        )
    else:
        at_ms = ", NULL::bigint AS at_ms" if times else ""
        sql = (
            f"SELECT d.player_id, {window.rule.over_deltas} AS score{at_ms}"
            f" FROM {source} GROUP BY d.player_id"
        )
    return Scores(sql, params, rollups=False)


# Banned players are in no ranking (issue 21): every ranking query starts from these
# scores, so they leave here, and the rest close up. The subquery runs once per query
# (an InitPlan over the partial index player_banned); with nobody banned it is empty.
_UNBANNED = (
    "SELECT * FROM ({sql}) unbanned WHERE unbanned.player_id <> ALL(ARRAY("
    "SELECT id FROM players_player WHERE banned_at IS NOT NULL))"
)


def _unbanned(scores: Scores, include_banned: bool) -> Scores:
    if include_banned:
        return scores
    return Scores(_UNBANNED.format(sql=scores.sql), scores.params, rollups=scores.rollups)


def window_scores(
    window: Window, *, use_rollups: bool = True, include_banned: bool = False
) -> Scores:
    """SQL (and its parameters) giving (player_id, score) for every player of the window,
    and for the `earliest` tie-break at_ms, the epoch milliseconds at which the score was
    reached: the base of every ranking query. Banned players are left out unless
    `include_banned` (final standings keep them, hidden). Reads the rollup watermark, so
    build it right before running it. A tournament's window is read from the log: its
    rules are per board, the rollups per metric."""
    rollup = _rollup_scores(window, times=False) if use_rollups and not window.tournament else None
    return _unbanned(rollup or _raw_scores(window, times=False), include_banned)


def window_scores_with_times(
    window: Window, *, use_rollups: bool = True, players: Sequence[int] | None = None
) -> Scores:
    """As window_scores, with a third column `at_ms` for every aggregation: the epoch
    milliseconds of the event behind the score where the Redis store needs it (a `last`
    score's event, which orders later events; when an `earliest` score was reached),
    else NULL. With `players` (pks), only theirs, from the log. Banned players are left
    out: a board built from these has none."""
    use_rollups = use_rollups and not window.tournament and players is None
    scores = _rollup_scores(window, times=True) if use_rollups else None
    return _unbanned(scores or _raw_scores(window, times=True, players=players), False)
