"""Final standings: a finished window's ranking frozen into rows, and reads of them.

Once frozen, a board is served from these rows through the same API: late events are
still stored in the delta log but no longer change the board's results.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from django.db import connection

from leaderboards.postgres.scores import window_scores
from leaderboards.postgres.standings import board_order
from leaderboards.ranking import Page, Standing, Window


def final_standings_freeze(window: Window, *, board_id: int) -> int:
    """Write the window's ranking as the board's final standings (in the caller's
    transaction); returns the number of players ranked. Banned players are frozen too,
    in their place but hidden (final_standings_rerank), so an unban restores them without
    the log, which may hold late events the frozen board must not count."""
    scores = window_scores(window, include_banned=True)
    sql = (
        "INSERT INTO leaderboards_finalstanding (board_id, place, player_id, score)"
        " SELECT %(board_id)s,"
        f"  ROW_NUMBER() OVER (ORDER BY {board_order(window, 'p.external_id', scores='s.')}),"
        "  s.player_id, s.score"
        f" FROM ({scores.sql}) s JOIN players_player p ON p.id = s.player_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {**scores.params, "board_id": board_id})
    return final_standings_rerank(window, board_id=board_id)


def final_standings_rerank(window: Window, *, board_id: int) -> int:
    """Number and rank the board's final standings among the players not banned, in their
    frozen order (`place`), the banned ones left without: what a ban or an unban changes
    (in the caller's transaction). Returns how many are ranked."""
    direction = "DESC" if window.sort_order == "desc" else "ASC"
    rank = (
        "ROW_NUMBER() OVER (ORDER BY f.place)"
        if window.earliest
        else (f"RANK() OVER (ORDER BY f.score {direction})")
    )
    with connection.cursor() as cursor:
        # Cleared first: (board, position) is unique and positions move both ways.
        cursor.execute(
            "UPDATE leaderboards_finalstanding SET position = NULL, rank = NULL"
            " WHERE board_id = %s AND position IS NOT NULL",
            [board_id],
        )
        cursor.execute(
            "UPDATE leaderboards_finalstanding t SET position = r.position, rank = r.rank FROM"
            f" (SELECT f.id, ROW_NUMBER() OVER (ORDER BY f.place) AS position, {rank} AS rank"
            "  FROM leaderboards_finalstanding f JOIN players_player p ON p.id = f.player_id"
            "  WHERE f.board_id = %s AND p.banned_at IS NULL) r"
            " WHERE t.id = r.id",
            [board_id],
        )
        return cursor.rowcount


_SELECT = (
    "SELECT f.rank, p.external_id, f.score FROM leaderboards_finalstanding f"
    " JOIN players_player p ON p.id = f.player_id WHERE f.board_id = %(board_id)s"
    " AND f.position IS NOT NULL"  # banned players are frozen, not shown
)


def _standings(sql: str, params: dict) -> list[Standing]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [Standing(rank, player_id, int(score)) for rank, player_id, score in cursor]


def final_count(board_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM leaderboards_finalstanding"
            " WHERE board_id = %s AND position IS NOT NULL",
            [board_id],
        )
        return cursor.fetchone()[0]


def final_page(board_id: int, *, offset: int, limit: int) -> Page:
    standings = _standings(
        f"{_SELECT} AND f.position > %(offset)s ORDER BY f.position LIMIT %(limit)s",
        {"board_id": board_id, "offset": offset, "limit": limit},
    )
    return Page(count=final_count(board_id), standings=standings)


def final_around(board_id: int, player_id: str, n: int) -> Page:
    standings = _standings(
        f"{_SELECT} AND f.position BETWEEN"
        " (SELECT m.position FROM leaderboards_finalstanding m JOIN players_player mp"
        "  ON mp.id = m.player_id WHERE m.board_id = %(board_id)s"
        "  AND mp.external_id = %(player)s) - %(n)s"
        " AND (SELECT m.position FROM leaderboards_finalstanding m JOIN players_player mp"
        "  ON mp.id = m.player_id WHERE m.board_id = %(board_id)s"
        "  AND mp.external_id = %(player)s) + %(n)s"
        " ORDER BY f.position",
        {"board_id": board_id, "player": player_id, "n": n},
    )
    return Page(count=final_count(board_id), standings=standings)


def final_for_players(board_id: int, player_ids: Sequence[str]) -> dict[str, Standing]:
    standings = _standings(
        f"{_SELECT} AND p.external_id = ANY(%(ids)s)",
        {"board_id": board_id, "ids": list(player_ids)},
    )
    return {s.player_id: s for s in standings}


def final_stream(board_id: int, chunk: int = 10_000) -> Iterator[Standing]:
    """Every final standing in order (for CSV export of big boards), in chunks."""
    position = 0
    while True:
        rows = _standings(
            f"{_SELECT} AND f.position > %(after)s ORDER BY f.position LIMIT %(chunk)s",
            {"board_id": board_id, "after": position, "chunk": chunk},
        )
        yield from rows
        if len(rows) < chunk:
            return
        position += chunk
