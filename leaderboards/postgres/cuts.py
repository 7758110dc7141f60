"""Reads of score cuts (ScoreCut: a player's score removed from one board, issue 21) for
the consumer, which must not put back on a cached board what a removal cut off. How
rankings leave cut deltas out is leaderboards/postgres/scores.py's."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from leaderboards.models import ScoreCut


def score_cuts(
    *, board_ids: Iterable[int], player_pks: Iterable[int]
) -> dict[tuple[int, int], datetime]:
    """The cut-off of each (board, player pk) of these that has one: one query, through
    the player index; none without players."""
    boards, players = list(set(board_ids)), list(set(player_pks))
    if not boards or not players:
        return {}
    rows = ScoreCut.objects.filter(player_id__in=players, board_id__in=boards).values_list(
        "board_id", "player_id", "cut_at"
    )
    return {(board_id, player_pk): cut_at for board_id, player_pk, cut_at in rows}
