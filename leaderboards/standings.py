"""Standings computed in PostgreSQL from the score delta log.

The truth that Redis caches: a window's score per player is the aggregate of that player's
deltas of one metric whose `created_at` lies in [starts_at, ends_at). Ranks are competition
ranks (1 + the number of players with a strictly better score); within a tie, players are
ordered by external id, byte-wise, the same order Redis gives.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from leaderboards.models import Aggregation, SortOrder
from leaderboards.store import Page, Standing

_AGGREGATES = {
    Aggregation.SUM: "SUM(d.delta)",
    Aggregation.MAX: "MAX(d.delta)",
    Aggregation.MIN: "MIN(d.delta)",
    # Ties on created_at go to the later arrival, then to the dedupe key, so every
    # computation picks the same value.
    Aggregation.LAST: "(ARRAY_AGG(d.delta ORDER BY d.created_at DESC, d.ingested_at DESC,"
    " d.dedupe_key DESC))[1]",
}


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


def scores_sql(window: Window) -> tuple[str, dict]:
    """SQL (and its parameters) giving (player_id, score) for every player of the window;
    the base of every ranking query here and of the final standings (leaderboards/final.py)."""
    conditions, params = _window_conditions(window)
    sql = (
        f"SELECT d.player_id, {_AGGREGATES[window.aggregation]} AS score"
        " FROM leaderboards_scoredelta d"
        f" WHERE {' AND '.join(conditions)}"
        " GROUP BY d.player_id"
    )
    return sql, params


def _order(window: Window) -> str:
    return "DESC" if window.sort_order == SortOrder.DESC else "ASC"


def _ranked_sql(window: Window) -> tuple[str, dict]:
    scores, params = scores_sql(window)
    direction = _order(window)
    sql = (
        f"WITH scores AS ({scores}),"
        " ranked AS ("
        "  SELECT p.external_id, s.score,"
        f"   RANK() OVER (ORDER BY s.score {direction}) AS rank,"
        f'   ROW_NUMBER() OVER (ORDER BY s.score {direction}, p.external_id COLLATE "C")'
        "     AS position,"
        "   COUNT(*) OVER () AS total"
        "  FROM scores s JOIN players_player p ON p.id = s.player_id)"
    )
    return sql, params


def standings_page(window: Window, *, offset: int, limit: int) -> Page:
    ranked, params = _ranked_sql(window)
    sql = (
        f"{ranked} SELECT rank, external_id, score, total FROM ranked"
        " WHERE position > %(offset)s ORDER BY position LIMIT %(limit)s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, "offset": offset, "limit": limit})
        rows = cursor.fetchall()
    total = rows[0][3] if rows else standings_count(window)
    return Page(count=total, standings=[Standing(r[0], r[1], int(r[2])) for r in rows])


def standings_count(window: Window) -> int:
    scores, params = scores_sql(window)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({scores}) s", params)
        return cursor.fetchone()[0]


def standings_around(window: Window, player_id: str, n: int) -> Page:
    ranked, params = _ranked_sql(window)
    sql = (
        f"{ranked}, me AS (SELECT position FROM ranked WHERE external_id = %(player)s)"
        " SELECT r.rank, r.external_id, r.score, r.total FROM ranked r, me"
        " WHERE r.position BETWEEN me.position - %(n)s AND me.position + %(n)s"
        " ORDER BY r.position"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, "player": player_id, "n": n})
        rows = cursor.fetchall()
    if not rows:
        return Page(count=standings_count(window), standings=[])
    return Page(count=rows[0][3], standings=[Standing(r[0], r[1], int(r[2])) for r in rows])


def standings_for_players(window: Window, player_ids: Sequence[str]) -> dict[str, Standing]:
    if not player_ids:
        return {}
    ranked, params = _ranked_sql(window)
    sql = f"{ranked} SELECT rank, external_id, score FROM ranked WHERE external_id = ANY(%(ids)s)"
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, "ids": list(player_ids)})
        return {r[1]: Standing(r[0], r[1], int(r[2])) for r in cursor.fetchall()}


def standings_stream(window: Window, chunk: int = 10_000) -> Iterator[tuple[str, int, int | None]]:
    """Every (player external id, score, last_ms) of the window, streamed through a
    server-side cursor so a board of millions of players does not sit in memory at once.
    last_ms is the epoch milliseconds of the event behind a `last` score (None for the
    other aggregations): the Redis store needs it to order later events. Must run inside a
    transaction."""
    if window.aggregation == Aggregation.LAST:
        conditions, params = _window_conditions(window)
        sql = (
            "SELECT DISTINCT ON (d.player_id) p.external_id, d.delta,"
            "  floor(extract(epoch FROM d.created_at) * 1000)::bigint"
            " FROM leaderboards_scoredelta d JOIN players_player p ON p.id = d.player_id"
            f" WHERE {' AND '.join(conditions)}"
            " ORDER BY d.player_id, d.created_at DESC, d.ingested_at DESC, d.dedupe_key DESC"
        )
    else:
        scores, params = scores_sql(window)
        sql = (
            f"SELECT p.external_id, s.score, NULL FROM ({scores}) s"
            " JOIN players_player p ON p.id = s.player_id"
        )
    connection.ensure_connection()
    with (
        connection.wrap_database_errors,
        connection.connection.cursor(name="standings_stream") as cursor,
    ):
        cursor.itersize = chunk
        cursor.execute(sql, params)
        for external_id, score, last_ms in cursor:
            yield external_id, int(score), last_ms


def standings_ranked_stream(window: Window, chunk: int = 10_000) -> Iterator[Standing]:
    """The whole ranking in board order through a server-side cursor (CSV export of big
    boards). Must run inside a transaction."""
    ranked, params = _ranked_sql(window)
    sql = f"{ranked} SELECT rank, external_id, score FROM ranked ORDER BY position"
    connection.ensure_connection()
    with (
        connection.wrap_database_errors,
        connection.connection.cursor(name="standings_ranked_stream") as cursor,
    ):
        cursor.itersize = chunk
        cursor.execute(sql, params)
        for rank, external_id, score in cursor:
            yield Standing(rank, external_id, int(score))
