"""What a ranking is over and what it answers, shared by its Redis and PostgreSQL sides.

Ranks are competition ranks: 1 + the number of players with a strictly better score
(scores 50, 40, 40, 30 rank 1, 2, 2, 4). Within a tie players are ordered by external id,
byte-wise, which is both Redis' member order and PostgreSQL's `COLLATE "C"`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from leaderboards.models import Aggregation, SortOrder


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


@dataclass(frozen=True, slots=True)
class Standing:
    rank: int
    player_id: str
    score: int


@dataclass(frozen=True, slots=True)
class Page:
    count: int
    standings: list[Standing]
    # Display names of the standings' players when the source holds them (Redis does),
    # else None: ask PostgreSQL. A player without a name maps to "" or is absent.
    names: dict[str, str] | None = field(default=None, compare=False)


def competition_ranked(
    rows: Iterable[tuple[str, int]], *, start: int, better_than_first: int
) -> list[Standing]:
    """Standings for a run of (player, score) rows in board order that begins at 0-based
    place `start`, where `better_than_first` players score strictly better than the first
    row: a rank changes only where the score does."""
    standings = []
    previous = None
    rank = better_than_first + 1
    for place, (player_id, score) in enumerate(rows, start=start + 1):
        if previous is not None and score != previous:
            rank = place
        previous = score
        standings.append(Standing(rank=rank, player_id=player_id, score=score))
    return standings
