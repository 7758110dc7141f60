"""What a ranking is over and what it answers, shared by its Redis and PostgreSQL sides.

Two tie-breaks (a board's `tie_break`):

- `player_id`, the default: competition ranks, 1 + the number of players with a strictly
  better score (scores 50, 40, 40, 30 rank 1, 2, 2, 4); within a tie players are ordered by
  external id, byte-wise, which is both Redis' member order and PostgreSQL's `COLLATE "C"`.
- `earliest`: among equal scores, whoever reached the score first is ahead, and ranks are
  ordinal (1, 2, 3, 4). A score is reached at the `created_at` of the event that made it
  what it is (each aggregation's `reached`, leaderboards/aggregations.py: for `max` and
  `min` the first event with the best value, for `sum` the latest event counted, for
  `last` that event). Equal scores reached in the same millisecond fall back to external
  id order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from leaderboards.aggregations import AGGREGATIONS, Aggregation, Rule
from leaderboards.models import SortOrder, TieBreak

# The fields of a board that change its ranking, in the order a cached set's definition
# lists them (leaderboards/cache/keys.py): a Window is built from them, an edit of one
# drops the board's cached copy (leaderboards/services.py). A name or slug edit keeps it.
RANKING_FIELDS = (
    "metric",
    "starts_at",
    "ends_at",
    "aggregation",
    "sort_order",
    "tie_break",
    "join_required",
    "max_attempts",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """What a ranking is over: a metric, a time range and how scores combine and sort;
    RANKING_FIELDS, and the board whose tournament rules it follows."""

    metric: str
    starts_at: datetime | None
    ends_at: datetime | None
    aggregation: str = Aggregation.SUM
    sort_order: str = SortOrder.DESC
    tie_break: str = TieBreak.PLAYER_ID
    # Tournament rules (leaderboards/models.py): which events count on board `board_id`.
    join_required: bool = False
    max_attempts: int | None = None
    board_id: int | None = None

    @classmethod
    def of_board(cls, board) -> Window:
        return cls(board_id=board.pk, **{name: getattr(board, name) for name in RANKING_FIELDS})

    @property
    def rule(self) -> Rule:
        """How its aggregation is computed (leaderboards/aggregations.py)."""
        return AGGREGATIONS[self.aggregation]

    @property
    def tournament(self) -> bool:
        """Whether only some of the window's events count (participants', first attempts)."""
        return self.join_required or self.max_attempts is not None

    @property
    def earliest(self) -> bool:
        """Whether ties go to whoever reached the score first (ordinal ranks)."""
        return self.tie_break == TieBreak.EARLIEST


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
    # Redis's set is frozen at an older consistent state (a gap after a consumer crash, a
    # rebuild under way): shown, and built again from PostgreSQL in the background.
    stale: bool = field(default=False, compare=False)


def ordinal_ranked(rows: Iterable[tuple[str, int]], *, start: int) -> list[Standing]:
    """Standings for a run of (player, score) rows in board order that begins at 0-based
    place `start`: each place its own rank."""
    return [
        Standing(rank=place, player_id=player_id, score=score)
        for place, (player_id, score) in enumerate(rows, start=start + 1)
    ]


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
