"""Tournaments: boards whose players join first (`join_required`, `max_participants`) and
on which only each player's first attempts count (`max_attempts`).

Which events count is decided by the scores SQL (leaderboards/postgres/scores.py) from the log and
the participants, never stored per event: an event stored for a tournament is stored like
any other. What keeps the Redis copy of a tournament board true:

- the consumer sends a tournament board each batch's players' whole scores, read from the
  log after the batch's commit (leaderboards/cache/apply.py), so a late event that displaces a
  counted attempt, or a player who has not joined, is right at once;
- a join or a leave on a `join_required` board changes which of the player's stored events
  count only if some are stamped at or after the join time (an event may be stamped a
  little ahead of the clock). After the commit, if any are, the board's cached copy is
  dropped and built again. Checked after the commit, not before: a batch committed before
  this check is seen by it, and one committed after it computed its scores with this
  join or leave visible, so no interleaving leaves Redis wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import redis
from django.db import connection, transaction
from django.db.models import Q
from django.utils.timezone import now as timezone_now

from config.exceptions import Conflict
from leaderboards.cache.builds import cache_drop_board
from leaderboards.models import Board, BoardStatus, Participant, ScoreDelta
from leaderboards.postgres.deltas import BoardsReread, DeltaRow
from leaderboards.postgres.scores import counted_deltas
from leaderboards.ranking import Window
from players.models import Player

logger = logging.getLogger(__name__)


def participant_join(
    *, board: Board, player_id: str, now: datetime | None = None
) -> tuple[Participant, bool]:
    """Join the player to the board (creating the player if new). Returns the participant
    and whether it joined now (False: it was in already). Conflict when the board has
    ended or is full."""
    now = now or timezone_now()
    with transaction.atomic():
        # The board's row lock serialises joins, so a full board never takes one more.
        locked = Board.objects.select_for_update().get(pk=board.pk)
        if locked.status_at(now) in (BoardStatus.ENDED, BoardStatus.FINALIZED):
            raise Conflict(f"Board {locked.slug!r} has ended: it takes no participants.")
        player, _ = Player.objects.get_or_create(external_id=player_id)
        existing = Participant.objects.filter(board=locked, player=player).first()
        if existing is not None:
            return existing, False
        if (
            locked.max_participants is not None
            and locked.participants.count() >= locked.max_participants
        ):
            raise Conflict(
                f"Board {locked.slug!r} is full: it takes {locked.max_participants} participants."
            )
        participant = Participant.objects.create(board=locked, player=player)
        if locked.join_required:
            _recheck_on_commit(locked, participant)
    return participant, True


def participant_leave(*, board: Board, player_id: str) -> bool:
    """Remove the player from the board; False when they were not in it."""
    with transaction.atomic():
        participant = (
            Participant.objects.select_related("player")
            .filter(board=board, player__external_id=player_id)
            .first()
        )
        if participant is None:
            return False
        participant.delete()
        if board.join_required:
            _recheck_on_commit(board, participant)
    return True


def _recheck_on_commit(board: Board, participant: Participant) -> None:
    """After the commit, drop the board's cached copy if the player has events the join
    or leave counts in or out (see the module docstring)."""

    def recheck() -> None:
        moved = ScoreDelta.objects.filter(
            player_id=participant.player_id,
            metric=board.metric,
            created_at__gte=max(participant.joined_at, board.starts_at),
        )
        if board.ends_at is not None:
            moved = moved.filter(created_at__lt=board.ends_at)
        if not moved.exists():
            return
        try:
            cache_drop_board(board.pk)
        except redis.RedisError as exc:
            # Redis is away: when it is back the board is built again from PostgreSQL.
            logger.warning("could not drop the cache of board %s: %s", board.slug, exc)

    transaction.on_commit(recheck)


# Boards with tournament rules not finalised yet: the consumer counts the events each batch
# stores that do not count on them.
_live = BoardsReread(
    lambda: Board.objects.filter(finalized_at__isnull=True).filter(
        Q(join_required=True) | Q(max_attempts__isnull=False)
    )
)


def tournaments_uncounted(*, rows: Sequence[DeltaRow]) -> int:
    """How many (board, event) pairs of these newly stored deltas fall in a live tournament
    board's window but do not count on it (not joined, or past the attempts), read in the
    caller's transaction after the insert. They stay in the log like any other."""
    uncounted = 0
    for board in _live.get():
        mine = [row for row in rows if board.covers(row.metric, row.created_at)]
        if not mine:
            continue
        source, params = counted_deltas(Window.of_board(board), {row.player_pk for row in mine})
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FROM (SELECT d.dedupe_key FROM {source}) k"
                " WHERE k.dedupe_key = ANY(%(keys)s)",
                {**params, "keys": [row.dedupe_key for row in mine]},
            )
            uncounted += len(mine) - cursor.fetchone()[0]
    return uncounted
