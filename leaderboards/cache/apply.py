"""The consumer's apply step: each committed batch's new deltas onto every cached board
they belong to, combined per player as the board's aggregation says
(leaderboards/aggregations.py) and fenced by the batch's offsets. Deltas that moderation
keeps off the boards (a banned player's; on one board, those a score removal cut off)
are left out here: read once per batch, after its commit (leaderboards/moderation.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from config.staleness import consumer_boards_max_age
from leaderboards.aggregations import AGGREGATIONS
from leaderboards.cache.store import BoardStore, Unit, get_store
from leaderboards.models import Board, TieBreak
from leaderboards.postgres.cuts import score_cuts
from leaderboards.postgres.deltas import DeltaRow
from leaderboards.postgres.standings import standings_whole_scores
from leaderboards.ranking import Window
from leaderboards.windows import epoch_millis
from players.selectors import players_banned

logger = logging.getLogger(__name__)


class _BoardDefinitions:
    """Board rows the consumer needs for the cached ids, re-read every
    LEADERBOARD_CONSUMER_BOARDS_MAX_AGE_MS so edits made in the admin reach it."""

    def __init__(self) -> None:
        self._boards: dict[int, Board] = {}
        self._loaded_at = 0.0

    def get(self, ids: set[int], *, reload: bool = False) -> list[Board]:
        stale = reload or time.monotonic() - self._loaded_at > consumer_boards_max_age()
        if stale or not ids <= self._boards.keys():
            self._boards = {board.pk: board for board in Board.objects.filter(pk__in=ids)}
            self._loaded_at = time.monotonic()
        return [self._boards[board_id] for board_id in ids if board_id in self._boards]


_definitions = _BoardDefinitions()


def _cut(
    cuts: dict[tuple[int, int], datetime], board_id: int, player_pk: int, at: datetime
) -> bool:
    """Whether a removal on the board cut off the player's delta stamped `at`."""
    cut_at = cuts.get((board_id, player_pk))
    return cut_at is not None and at <= cut_at


@dataclass(frozen=True, slots=True)
class AppliedBatch:
    outcomes: dict[int, str]  # each cached board's outcome (store.apply's words)
    changed: set[int]  # boards whose set the batch changed: applied, and values for them


def cache_apply_batch(
    *, deltas: Sequence[DeltaRow], positions: dict[int, tuple[int, int]]
) -> AppliedBatch:
    """Apply the new deltas of one committed batch to every cached board they belong to.

    `positions` maps each partition the batch read to its offsets [from, to), so every
    cached board advances its fences even when the batch holds nothing for it. Returns each
    board's outcome and the boards whose set the batch changed (for the change notice).
    """
    store = get_store()
    board_ids = store.cached_board_ids()
    if not board_ids or not positions:
        return AppliedBatch({}, set())
    touched: set[int] = set()
    outcomes = _apply_batch(store, board_ids, deltas, positions, touched)
    unreachable = sorted(
        board_id for board_id, outcome in outcomes.items() if outcome == "unreachable"
    )
    if unreachable:
        logger.warning(
            "redis node down: %d cached boards miss this batch and are rebuilt once it is "
            "back (%s)",
            len(unreachable),
            unreachable[:10],
        )
    changed = {board_id for board_id in touched if outcomes.get(board_id) == "applied"}
    return AppliedBatch(outcomes, changed)


def _apply_batch(
    store: BoardStore,
    board_ids: set[int],
    deltas: Sequence[DeltaRow],
    positions: dict[int, tuple[int, int]],
    touched: set[int],
) -> dict[int, str]:
    """Apply, and add to `touched` the boards the batch holds values for."""
    # A banned player's deltas are stored but reach no board, and those a score removal
    # cut off reach not its board (leaderboards/moderation.py). Both are read after the
    # batch's commit: an action committed before it is seen here, and one committed later
    # drops the boards, whose rebuild's fences cover this batch.
    players = {row.player_pk for row in deltas}
    banned = players_banned(pks=players)
    cuts = score_cuts(board_ids=board_ids, player_pks=players - banned)
    by_metric: dict[str, list[DeltaRow]] = {}
    for row in deltas:
        if row.player_pk not in banned:
            by_metric.setdefault(row.metric, []).append(row)
    work = _units_per_board(_definitions.get(board_ids), by_metric, positions, cuts)
    touched.update(board.pk for board, units in work if any(unit.values for unit in units))
    outcomes = store.apply(work)
    redefined = {board_id for board_id, outcome in outcomes.items() if outcome == "redefined"}
    if redefined:
        # Our copy of those boards is older than the build's, or the build's is older than
        # the database: re-read them, try once more, and drop what still disagrees.
        boards = _definitions.get(redefined, reload=True)
        retried = store.apply(_units_per_board(boards, by_metric, positions, cuts))
        for board_id in redefined:
            if retried.get(board_id, "redefined") == "redefined":
                store.drop(board_id)
                retried[board_id] = "stale"
        outcomes.update(retried)
    return outcomes


def _units_per_board(
    boards: Sequence[Board],
    by_metric: dict[str, list[DeltaRow]],
    positions: dict[int, tuple[int, int]],
    cuts: dict[tuple[int, int], datetime],
) -> list[tuple[Board, list[Unit]]]:
    work = []
    for board in boards:
        rule = AGGREGATIONS[board.aggregation]
        values: dict[int, dict] = {partition: {} for partition in positions}
        rows = [
            row
            for row in by_metric.get(board.metric, ())
            if board.covers(row.metric, row.created_at)
            and not _cut(cuts, board.pk, row.player_pk, row.created_at)
        ]
        if board.is_tournament:
            # Only some events count, and a late one can displace a counted one: the
            # batch's players' whole scores, from the log as it stands after the commit.
            scores = standings_whole_scores(Window.of_board(board), {r.player_pk for r in rows})
            for row in rows:
                values[row.partition][row.player_id] = scores.get(row.player_pk)
        elif rule.picks_latest:
            # The batch's latest event per player, in the delta log's order (created_at,
            # then dedupe key: one batch shares one ingest time).
            for row in sorted(rows, key=lambda r: (r.created_at, r.dedupe_key)):
                values[row.partition][row.player_id] = (row.delta, epoch_millis(row.created_at))
        elif board.tie_break == TieBreak.EARLIEST:
            reach = rule.combine_reached
            for row in rows:
                per_player = values[row.partition]
                new = (row.delta, epoch_millis(row.created_at))
                old = per_player.get(row.player_id)
                per_player[row.player_id] = new if old is None else reach(old, new)
        else:
            combine = rule.combine
            for row in rows:
                per_player = values[row.partition]
                old = per_player.get(row.player_id)
                per_player[row.player_id] = row.delta if old is None else combine(old, row.delta)
        units = [Unit(p, start, end, values[p]) for p, (start, end) in positions.items()]
        work.append((board, units))
    return work
