"""Aggregations, defined once: how a board combines a player's deltas into one score.

A board's `aggregation` is one of `sum`, `max`, `min` and `last`. Everything that depends
on which one reads its `Rule` from AGGREGATIONS below, and nothing else spells an operator
out:

- the SQL over the delta log and over the rollups (leaderboards/postgres/scores.py);
- the rollup columns that hold it and how a chunk merges into them
  (leaderboards/postgres/rollups.py);
- the op the Redis store applies (leaderboards/cache/): apply_units.lua keeps the
  primitive operations (incr, gt, lt, last, and set for tournaments) and is told by the
  payload which one a board takes, since Lua cannot read this table;
- how a consumer batch's values of one player combine before they are sent
  (leaderboards/cache/apply.py);
- for the `earliest` tie-break, when a score counts as reached (leaderboards/ranking.py).

SQL fragments are templates: `{v}` a value column, `{rows}` the alias of rows carrying
(v, at_ms), `{old}` / `{new}` a rollup row and the chunk merged into it. Every rule's
entry is checked against the enum and the Lua (tests/leaderboards/test_aggregations.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import models


class Aggregation(models.TextChoices):
    SUM = "sum", "Sum of deltas"
    MAX = "max", "Best submitted value"
    MIN = "min", "Lowest submitted value"
    LAST = "last", "Latest submitted value"


def exact_sum(value: str) -> str:
    """An exact bigint SUM without numeric: SUM(bigint) accumulates in numeric, and turning
    a hundred thousand of those back into bigint costs more than reading the rows. Two
    int4 halves (value = high * 2^31 + low, low in [0, 2^31)) sum in plain bigint instead;
    a value beyond +-2^62 fails the cast loudly rather than adding up wrong."""
    return f"(SUM(({value} >> 31)::int4) * 2147483648 + SUM(({value} & 2147483647)::int4))"


# The order of events that `last` follows everywhere: ties on created_at go to the later
# arrival, then to the dedupe key, so every computation picks the same value.
LATEST_FIRST = "d.created_at DESC, d.ingested_at DESC, d.dedupe_key DESC"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One aggregation, as every layer needs it."""

    aggregation: Aggregation
    # When a score counts as reached, for the `earliest` tie-break (whoever reached an
    # equal score first is ahead).
    reached: str

    # -- PostgreSQL, scores (leaderboards/postgres/scores.py) ---------------------------
    # The aggregate over a window's deltas `d`: the plain GROUP BY over the log.
    over_deltas: str
    # What it reads from a rollup row, and from a delta in a rollup row's place; `last`
    # carries its event's (at, ing, key) to pick the latest.
    rollup_select: str
    delta_select: str
    # The aggregate over partial rows' values `{v}` (rollup buckets and raw deltas);
    # None: the score is one event's value (the latest row is picked, not aggregated).
    over_rows: str | None
    # How a one-bucket window's bucket row `a` and tail row `b` of one player combine;
    # either may be missing.
    joined: str
    # `earliest` (not for `last`, whose rows carry their event's time): the rollup column
    # holding when the score was reached, the (score, at_ms) aggregate over `{rows}`'
    # (v, at_ms), and when the joined score of `a` and `b` was reached.
    reached_column: str | None
    reached_score: str | None
    reached_at: str | None
    joined_reached: str | None

    # -- PostgreSQL, rollups (leaderboards/postgres/rollups.py) --------------------------
    # The rollup column holding the value; for `last` the row's last* columns all follow
    # the latest event instead of an aggregate.
    rollup_column: str
    # The SQL aggregate function that fills rollup_column from deltas and from finer rows,
    # and how a rollup row `{old}` takes a chunk's `{new}`; None for `last`.
    rollup_function: str | None
    rollup_merge: str | None
    # For a best value (max, min): the comparison that makes a value better, by which the
    # first event with the best value is found; None where the latest event reaches it.
    better: str | None

    # -- Redis (leaderboards/cache/) ----------------------------------------------------
    # The op of apply_units.lua on stored scores, which are negated on `desc` boards so
    # that ascending Redis order is board order.
    redis_op_asc: str
    redis_op_desc: str
    # How two values of one player in a batch combine; with `earliest`, how two
    # (value, epoch ms reached) pairs do. None for `last` (the latest event wins).
    combine: Callable[[int, int], int] | None
    combine_reached: Callable[[tuple[int, int], tuple[int, int]], tuple[int, int]] | None

    @property
    def picks_latest(self) -> bool:
        """Whether the score is one event's value (the latest), not an aggregate."""
        return self.over_rows is None

    def redis_op(self, *, descending: bool) -> str:
        return self.redis_op_desc if descending else self.redis_op_asc


def _best_first(better: str) -> tuple[str, str]:
    """(score, at_ms) over `{rows}`' (v, at_ms): the best value and, among its rows, the
    earliest time, in one array comparison."""
    if better == ">":
        best = "max(ARRAY[{rows}.v, -{rows}.at_ms])"
        return f"({best})[1]", f"-({best})[2]"
    worst = "min(ARRAY[{rows}.v, {rows}.at_ms])"
    return f"({worst})[1]", f"({worst})[2]"


def _joined_reached(better: str) -> str:
    """When the better of a bucket's row `a` and the tail's `b` was first reached."""
    return (
        f"CASE WHEN b.v IS NULL OR a.v {better} b.v THEN a.at_ms"
        f" WHEN a.v IS NULL OR b.v {better} a.v THEN b.at_ms ELSE least(a.at_ms, b.at_ms) END"
    )


_MAX_SCORE, _MAX_AT = _best_first(">")
_MIN_SCORE, _MIN_AT = _best_first("<")
_A_IS_LATER = "b.player_id IS NULL OR (a.at, a.ing, a.key) > (b.at, b.ing, b.key)"

AGGREGATIONS: dict[str, Rule] = {
    Aggregation.SUM: Rule(
        aggregation=Aggregation.SUM,
        reached="by the latest event counted",
        over_deltas=exact_sum("d.delta"),
        rollup_select="total AS v",
        delta_select="delta AS v",
        over_rows=exact_sum("{v}"),
        joined="coalesce(a.v, 0) + coalesce(b.v, 0)",
        reached_column="last_at",
        reached_score=exact_sum("{rows}.v"),
        reached_at="max({rows}.at_ms)",
        joined_reached="greatest(a.at_ms, b.at_ms)",
        rollup_column="total",
        rollup_function="sum",
        rollup_merge="{old} + {new}",
        better=None,
        redis_op_asc="incr",
        redis_op_desc="incr",
        combine=lambda old, new: old + new,
        combine_reached=lambda old, new: (old[0] + new[0], max(old[1], new[1])),
    ),
    Aggregation.MAX: Rule(
        aggregation=Aggregation.MAX,
        reached="by the first event with the best value",
        over_deltas="MAX(d.delta)",
        rollup_select="best AS v",
        delta_select="delta AS v",
        over_rows="MAX({v})",
        joined="greatest(a.v, b.v)",
        reached_column="best_at",
        reached_score=_MAX_SCORE,
        reached_at=_MAX_AT,
        joined_reached=_joined_reached(">"),
        rollup_column="best",
        rollup_function="max",
        rollup_merge="greatest({old}, {new})",
        better=">",
        # Negated on desc boards: the best value is the lowest stored score.
        redis_op_asc="gt",
        redis_op_desc="lt",
        combine=max,
        combine_reached=lambda old, new: max(old, new, key=lambda pair: (pair[0], -pair[1])),
    ),
    Aggregation.MIN: Rule(
        aggregation=Aggregation.MIN,
        reached="by the first event with the lowest value",
        over_deltas="MIN(d.delta)",
        rollup_select="worst AS v",
        delta_select="delta AS v",
        over_rows="MIN({v})",
        joined="least(a.v, b.v)",
        reached_column="worst_at",
        reached_score=_MIN_SCORE,
        reached_at=_MIN_AT,
        joined_reached=_joined_reached("<"),
        rollup_column="worst",
        rollup_function="min",
        rollup_merge="least({old}, {new})",
        better="<",
        redis_op_asc="lt",
        redis_op_desc="gt",
        combine=min,
        combine_reached=min,
    ),
    Aggregation.LAST: Rule(
        aggregation=Aggregation.LAST,
        reached="by that latest event",
        over_deltas=f"(ARRAY_AGG(d.delta ORDER BY {LATEST_FIRST}))[1]",
        rollup_select="last AS v, last_at AS at, last_ingested_at AS ing, last_key AS key",
        delta_select="delta AS v, created_at AS at, ingested_at AS ing, dedupe_key AS key",
        over_rows=None,
        joined=f"CASE WHEN {_A_IS_LATER} THEN a.v ELSE b.v END",
        reached_column=None,
        reached_score=None,
        reached_at=None,
        joined_reached=None,
        rollup_column="last",
        rollup_function=None,
        rollup_merge=None,
        better=None,
        redis_op_asc="last",
        redis_op_desc="last",
        combine=None,
        combine_reached=None,
    ),
}

# When `last`'s joined row was reached: the latest event's time (scores.py).
JOINED_LAST_AT = f"CASE WHEN {_A_IS_LATER} THEN a.at ELSE b.at END"
