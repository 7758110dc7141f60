"""Reads of score cuts (ScoreCut: a player's score removed from one board, issue 21) for
the consumer, which must not put back on a cached board what a removal cut off. How
rankings leave cut deltas out is leaderboards/postgres/scores.py's."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import connection

from leaderboards.models import ScoreCut


def score_cuts(
    *, board_ids: Iterable[int], player_pks: Iterable[int]
) -> dict[tuple[int, int], datetime]:
    """The cut-off of each (board, player pk) of these that has one: one query, through
    the player index; none without players."""
    boards, players = list(set(board_ids)), list(set(player_pks))
    if not boards or not players:
        return {}
    # Array parameters: an ORM `player_id__in` of a batch's thousands of players cost the
    # consumer 7% of its time binding them one by one.
    with connection.cursor() as cursor:
        cursor.execute(_CUTS_SQL, [players, boards])
        return {(board_id, player_pk): cut_at for board_id, player_pk, cut_at in cursor}


_CUTS_SQL = f"""
SELECT board_id, player_id, cut_at FROM {ScoreCut._meta.db_table}
 WHERE player_id = ANY(%s::bigint[]) AND board_id = ANY(%s::bigint[])
"""
