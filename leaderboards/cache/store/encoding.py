"""Scores and members as the store keeps them: ascending Redis order is board order, so
scores are negated on `desc` boards, and an `earliest` board's members begin with the time
the score was reached (leaderboards/cache/store/__init__.py). What a batch sends, and what a
read's rows turn back into."""

from __future__ import annotations

from dataclasses import dataclass

from leaderboards.aggregations import AGGREGATIONS
from leaderboards.models import Board, SortOrder, TieBreak
from leaderboards.ranking import Standing, competition_ranked, ordinal_ranked

# Digits of the reached time that begin an `earliest` board's members (apply_units.lua).
REACHED_WIDTH = 15


def reached_member(at_ms: int, player_id: str) -> str:
    """An `earliest` board's member: when the score was reached, then who."""
    return f"{at_ms:0{REACHED_WIDTH}d}{player_id}"


@dataclass(frozen=True, slots=True)
class Unit:
    """One batch's contribution from one partition: offsets [from_offset, to_offset)."""

    partition: int
    from_offset: int
    to_offset: int
    # Per player: the value to combine, or for `last` and `earliest` boards (value, epoch
    # ms: of the latest event for `last` and `sum`, of the first with the value otherwise);
    # on a tournament board the player's whole score (score, at_ms or None), or None when
    # nothing of theirs counts.
    values: dict[str, int] | dict[str, tuple[int, int]] | dict[str, tuple[int, int | None] | None]


def redis_op(board: Board) -> str:
    """The op of apply_units.lua that adds a batch to the board's set."""
    rule = AGGREGATIONS[board.aggregation]
    return rule.redis_op(descending=board.sort_order == SortOrder.DESC)


def flatten(values: dict, sign: int, *, whole: bool = False) -> list:
    """A unit's values as the flat list the scripts read: member, value[, time]; `whole`
    scores (tournament boards) as exact strings, 'x' for none, time -1 for none."""
    flat: list = []
    if whole:
        for member, score in values.items():
            if score is None:
                flat += (member, "x", -1)
            else:
                flat += (member, str(score[0] * sign), -1 if score[1] is None else score[1])
        return flat
    for member, value in values.items():
        if isinstance(value, tuple):
            flat += (member, value[0] * sign, value[1])
        else:
            flat += (member, value * sign)
    return flat


def score_sign(board: Board) -> int:
    return -1 if board.sort_order == SortOrder.DESC else 1


def member_prefix(board: Board) -> int:
    """The width of the reached time that begins the board's members (0: none)."""
    return REACHED_WIDTH if board.tie_break == TieBreak.EARLIEST else 0


def score_of(stored: bytes | str | float, sign: int) -> int:
    return int(float(stored)) * sign


def names_by_player(standings: list[Standing], names: list | None) -> dict[str, str] | None:
    """The read scripts' names (one per standing, None for an unknown player) as a dict;
    None when the names hash is not loaded."""
    if names is None:
        return None
    return {s.player_id: name.decode() for s, name in zip(standings, names, strict=True) if name}


def ranked(board: Board, rows: list, start: int, better_than_first: int) -> list[Standing]:
    """Standings for a run of ZRANGE ... WITHSCORES rows starting at place `start`."""
    sign, strip = score_sign(board), member_prefix(board)
    pairs = (
        (rows[i][strip:].decode(), score_of(rows[i + 1], sign)) for i in range(0, len(rows), 2)
    )
    if strip:
        return ordinal_ranked(pairs, start=start)
    return competition_ranked(pairs, start=start, better_than_first=better_than_first)
