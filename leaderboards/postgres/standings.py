"""Rankings computed in PostgreSQL: pages, neighbours, players' ranks and whole-board
streams over a window's scores (leaderboards/postgres/scores.py), ranked as leaderboards/ranking.py
says (competition ranks with ties by external id byte-wise, or for the `earliest`
tie-break ordinal ranks by when the score was reached), the order Redis gives too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from django.db import connection, transaction

from config.database import named_cursor
from leaderboards.models import SortOrder
from leaderboards.postgres.scores import Scores, window_scores, window_scores_with_times
from leaderboards.ranking import Page, Standing, Window

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
def _cursor(scores: Scores) -> Iterator:
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


def _server_side(scores: Scores, sql: str, name: str, chunk: int) -> Iterator[tuple]:
    """Rows of `sql` through a server-side cursor, in the caller's transaction."""
    with named_cursor(name, chunk) as cursor, connection.connection.cursor() as settings:
        previous = _parallel_off(settings) if scores.rollups else None
        cursor.execute(sql, scores.params)  # plans the query: the setting may go back now
        if previous is not None:
            _parallel_restore(settings, previous)
        yield from cursor


# -- rankings ---------------------------------------------------------------------------


def _order(window: Window) -> str:
    return "DESC" if window.sort_order == SortOrder.DESC else "ASC"


def board_order(window: Window, external_id: str, *, scores: str = "") -> str:
    """The ORDER BY of the window's board order: score, then (`earliest`) the time it was
    reached, then external id byte-wise. `scores` qualifies the score columns."""
    reached = f" {scores}at_ms," if window.earliest else ""
    return f'{scores}score {_order(window)},{reached} {external_id} COLLATE "C"'


def rank_sql(window: Window, external_id: str, *, scores: str = "") -> str:
    """The window function that ranks a row: competition ranks by score, or ordinal ranks
    in board order for `earliest`."""
    if window.earliest:
        return f"ROW_NUMBER() OVER (ORDER BY {board_order(window, external_id, scores=scores)})"
    return f"RANK() OVER (ORDER BY {scores}score {_order(window)})"


def _ranked_sql(window: Window, scores: Scores) -> str:
    return (
        f"WITH scores AS ({scores.sql}),"
        " ranked AS ("
        "  SELECT p.external_id, s.score,"
        f"   {rank_sql(window, 'p.external_id', scores='s.')} AS rank,"
        f"   ROW_NUMBER() OVER (ORDER BY {board_order(window, 'p.external_id', scores='s.')})"
        "     AS position,"
        "   COUNT(*) OVER () AS total"
        "  FROM scores s JOIN players_player p ON p.id = s.player_id)"
    )


def _page_sql(window: Window, scores: Scores) -> str:
    """One page without ranking everybody: the score at the page's last place bounds the
    candidates, and only they are joined to players, ordered and ranked. Ranks and places
    within them are the global ones, since whoever is ahead of a candidate is one too."""
    direction = _order(window)
    better = ">=" if window.sort_order == SortOrder.DESC else "<="
    reached = ", s.at_ms" if window.earliest else ""
    return (
        f"WITH scores AS MATERIALIZED ({scores.sql}),"
        " cutoff AS ("
        f"  SELECT score FROM scores ORDER BY score {direction}"
        "   OFFSET %(offset)s + %(limit)s - 1 LIMIT 1),"
        " candidates AS ("
        f"  SELECT s.score{reached},"
        "   (SELECT p.external_id FROM players_player p WHERE p.id = s.player_id)"
        '     COLLATE "C" AS external_id'
        f"  FROM scores s WHERE NOT EXISTS (SELECT FROM cutoff) OR s.score {better}"
        "   (SELECT score FROM cutoff)),"
        " ranked AS ("
        "  SELECT external_id, score,"
        f"   {rank_sql(window, 'external_id')} AS rank,"
        f"   ROW_NUMBER() OVER (ORDER BY {board_order(window, 'external_id')}) AS position"
        "  FROM candidates)"
        " SELECT rank, external_id, score, (SELECT COUNT(*) FROM scores) AS total"
        " FROM ranked WHERE position > %(offset)s ORDER BY position LIMIT %(limit)s"
    )


def standings_page(window: Window, *, offset: int, limit: int, use_rollups: bool = True) -> Page:
    if limit <= 0:
        return Page(count=standings_count(window, use_rollups=use_rollups), standings=[])
    scores = window_scores(window, use_rollups=use_rollups)
    with _cursor(scores) as cursor:
        cursor.execute(
            _page_sql(window, scores), {**scores.params, "offset": offset, "limit": limit}
        )
        rows = cursor.fetchall()
    total = rows[0][3] if rows else standings_count(window, use_rollups=use_rollups)
    return Page(count=total, standings=[Standing(r[0], r[1], int(r[2])) for r in rows])


def standings_count(window: Window, *, use_rollups: bool = True) -> int:
    scores = window_scores(window, use_rollups=use_rollups)
    with _cursor(scores) as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({scores.sql}) s", scores.params)
        return cursor.fetchone()[0]


def standings_around(window: Window, player_id: str, n: int, *, use_rollups: bool = True) -> Page:
    scores = window_scores(window, use_rollups=use_rollups)
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
    scores = window_scores(window, use_rollups=use_rollups)
    if window.earliest:
        # Ordinal ranks follow external ids within a millisecond: every player is joined.
        sql = (
            f"{_ranked_sql(window, scores)}"
            " SELECT rank, external_id, score FROM ranked WHERE external_id = ANY(%(ids)s)"
        )
    else:
        # Ranks need every score but no names: only the players asked for are joined.
        sql = (
            f"WITH scores AS ({scores.sql}),"
            f" ranked AS (SELECT player_id, score, {rank_sql(window, '')} AS rank FROM scores)"
            " SELECT r.rank, p.external_id, r.score FROM ranked r"
            " JOIN players_player p ON p.id = r.player_id WHERE p.external_id = ANY(%(ids)s)"
        )
    with _cursor(scores) as cursor:
        cursor.execute(sql, {**scores.params, "ids": list(player_ids)})
        return {r[1]: Standing(r[0], r[1], int(r[2])) for r in cursor.fetchall()}


def standings_stream(
    window: Window, chunk: int = 10_000, *, use_rollups: bool = True
) -> Iterator[tuple[str, int, int | None]]:
    """Every (player external id, score, at_ms) of the window, streamed through a
    server-side cursor so a board of millions of players does not sit in memory at once.
    at_ms is the epoch milliseconds of the event behind a `last` score, or when an
    `earliest` board's score was reached (else None): the Redis store orders later events
    and ties by it. Must run inside a transaction."""
    scores = window_scores_with_times(window, use_rollups=use_rollups)
    sql = (
        f"SELECT p.external_id, s.score, s.at_ms FROM ({scores.sql}) s"
        " JOIN players_player p ON p.id = s.player_id"
    )
    for external_id, score, at_ms in _server_side(scores, sql, "standings_stream", chunk):
        yield external_id, int(score), at_ms


def standings_whole_scores(
    window: Window, player_pks: Iterable[int]
) -> dict[int, tuple[int, int | None]]:
    """The (score, at_ms) of each of the players (by pk) that has one in the window, as
    standings_stream gives them, read from the log (the consumer's view of a tournament
    board's players after a batch)."""
    pks = list(player_pks)
    if not pks:
        return {}
    scores = window_scores_with_times(window, players=pks)
    with _cursor(scores) as cursor:
        cursor.execute(scores.sql, scores.params)
        return {pk: (int(score), at_ms) for pk, score, at_ms in cursor.fetchall()}


def standings_has_score(window: Window, player_pk: int) -> bool:
    """Whether the player has a score in the window, banned or not (what a removal of
    their score needs)."""
    scores = window_scores(window, include_banned=True)
    with _cursor(scores) as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT FROM ({scores.sql}) s WHERE s.player_id = %(player_pk)s)",
            {**scores.params, "player_pk": player_pk},
        )
        return cursor.fetchone()[0]


def standings_ranked_stream(
    window: Window, chunk: int = 10_000, *, use_rollups: bool = True
) -> Iterator[Standing]:
    """The whole ranking in board order through a server-side cursor (CSV export of big
    boards). Must run inside a transaction."""
    scores = window_scores(window, use_rollups=use_rollups)
    sql = f"{_ranked_sql(window, scores)} SELECT rank, external_id, score FROM ranked"
    sql += " ORDER BY position"
    for rank, external_id, score in _server_side(scores, sql, "standings_ranked_stream", chunk):
        yield Standing(rank, external_id, int(score))
