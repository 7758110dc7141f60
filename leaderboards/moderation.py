"""Moderation (issue 21): banning and unbanning a player, removing a player's score from
one board, and reopening a finalised board, audited.

A ban hides, it does not destroy. The design, and why:

- PostgreSQL is the truth: `Player.banned_at` is set, and every ranking query starts from
  scores that leave banned players out (leaderboards/postgres/scores.py), so standings,
  ranks, around, the CSV and league buckets close up by themselves, for both tie-breaks.
- Final standings keep the banned player's row in its frozen place, hidden, and are
  re-ranked in place (leaderboards/postgres/final.py): an unban restores them exactly, even
  though the log may hold late events the frozen board must not count.
- Redis: after the commit every cached board is dropped, and rebuilt (on the next read, or
  by the cache sync) from PostgreSQL, which now leaves the player out (or, on unban, puts
  back everything they scored, during the ban too). The consumer's apply step skips banned
  players' deltas (leaderboards/cache/apply.py), reading the ban after its own commit; the
  fences of a rebuild cover every batch committed before its snapshot, so no delta of a
  banned player reaches a board after the drop. Nothing is added to the read path: a read
  of a cached board costs what it did.
- A Redis flush rebuilds boards from PostgreSQL: still without the player.

The cost: a ban or an unban rebuilds every cached board once (rare, operator actions);
readers are served from PostgreSQL meanwhile.

A removal cuts a player's score off on one board; the design, and why:

- PostgreSQL is the truth: a ScoreCut (board, player, cut_at) row, moved on by a second
  removal, and the board's scores leave out the player's deltas stamped at or before
  cut_at (leaderboards/postgres/scores.py: from the log, and from the rollups, reading the
  cut's bucket finer). Everything ranked from the board's window follows: standings, the
  CSV, buckets, tournaments (cut deltas are no attempts either). Later-stamped events
  count from zero. Nothing is deleted: other boards, and ranges, still count every event.
  A league keeps the player's place (places never move, or others would change bucket):
  without a score they are absent from their bucket's ranking until they score again.
- The removal locks the board row, as a finalisation does: one running at the same time
  cannot freeze the score being removed.
- A finalised board loses the player's frozen row for good (not hidden, as a ban hides
  it) and the others are re-ranked in place; the cut is kept all the same, so a reopened
  board still leaves the removed score out.
- Redis: after the commit the board's cached copy is dropped, and rebuilt from PostgreSQL
  on the next read or by the cache sync. The consumer's apply step leaves out a cut
  player's deltas stamped at or before the cut on that board (leaderboards/cache/apply.py,
  one query per batch, after the batch's commit): late or replayed events arriving after
  the removal never reach the cached board. The race with a batch in flight: the batch
  reads the cuts after its own commit. If the removal committed first, the batch sees the
  cut. If not, the batch may put the cut deltas on the board, but the removal commits
  after the batch did, so its drop comes after both: a rebuild begins after the drop (a
  build already running is superseded by it, its snapshot possibly older than the cut),
  and its snapshot holds the cut and every batch committed before it, whose units its
  fences then skip. Nothing is added to the read path.

The cost: the board's next reads come from PostgreSQL until it is rebuilt.

Reopening a finalised board (staff, with a reason) drops its final standings: it is
ranked from the log again, late events included, removals still out, its status back to
what its window says (live, or ended), and it is built in Redis again on the next read.
A reopened board is left alone by the periodic finalisation: staff reopen a board to
change something (a removal, late events they mean to count), and one finalised again a
minute later by the task would freeze it before they are done. They finalise it again
("Finalise now"), which clears the mark.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

import redis
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from leaderboards.cache.builds import cache_drop_all, cache_drop_board_on_commit
from leaderboards.cache.changes import changes_publish
from leaderboards.models import Board, FinalStanding, ScoreCut
from leaderboards.postgres.final import final_standings_rerank
from leaderboards.postgres.partitions import deltas_retained, raw_spans
from leaderboards.postgres.standings import standings_has_score
from leaderboards.ranking import Window
from players.audit import Actor, audit_record
from players.models import AuditAction, Player

logger = logging.getLogger(__name__)

# Every moderation reason (ban, removal, reopening, erasure), as the audit log keeps it.
REASON_MAX_LENGTH = 500


def reason_checked(reason: str, *, required: bool) -> str:
    """The reason trimmed, or a ValidationError saying what is wrong with it."""
    reason = reason.strip()
    if required and not reason:
        raise ValidationError({"reason": ["A reason is required."]})
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationError(
            {"reason": [f"Ensure this field has no more than {REASON_MAX_LENGTH} characters."]}
        )
    return reason


def _player_locked(player_id: str) -> Player:
    player = (
        Player.objects.select_for_update().filter(external_id=player_id).first()
        if "\x00" not in player_id
        else None
    )
    if player is None:
        raise Http404(f"No player {player_id!r}.")
    return player


@transaction.atomic
def player_ban(*, player_id: str, reason: str, actor: Actor) -> Player:
    """Ban the player (Http404 if unknown): hidden from every ranking, everything kept.
    Banning a banned player changes nothing and records nothing."""
    player = _player_locked(player_id)
    if player.banned_at is None:
        player.banned_at = timezone.now()
        player.ban_reason = reason
        player.save(update_fields=["banned_at", "ban_reason"])
        audit_record(action=AuditAction.BAN, actor=actor, reason=reason, player_id=player_id)
        _rankings_changed(player)
    return player


@transaction.atomic
def player_unban(*, player_id: str, actor: Actor, reason: str = "") -> Player:
    """Lift the player's ban (Http404 if unknown): every board shows them again with
    everything they scored. Unbanning a player not banned changes nothing."""
    player = _player_locked(player_id)
    if player.banned_at is not None:
        player.banned_at = None
        player.ban_reason = ""
        player.save(update_fields=["banned_at", "ban_reason"])
        audit_record(action=AuditAction.UNBAN, actor=actor, reason=reason, player_id=player_id)
        _rankings_changed(player)
    return player


def _rankings_changed(player: Player) -> None:
    """Re-rank the finalised boards the player is frozen on, now; drop the cached boards
    once the ban's change commits (a rebuild before it would read the old state)."""
    board_ids = FinalStanding.objects.filter(player=player).values_list("board_id", flat=True)
    for board in Board.objects.filter(pk__in=board_ids).select_related("series"):
        final_standings_rerank(Window.of_board(board), board_id=board.pk)
    transaction.on_commit(_drop_cached_boards)


def _drop_cached_boards() -> None:
    try:
        cache_drop_all()
    except redis.RedisError as exc:
        # Boards Redis kept through the outage are put right by the cache sync's drift
        # check (docs/moderation.md).
        logger.warning("could not drop the cached boards after a ban: %s", exc)


@transaction.atomic
def board_score_remove(
    *,
    board_slug: str,
    player_id: str,
    actor: Actor,
    reason: str = "",
    now: datetime | None = None,
) -> ScoreCut:
    """Remove the player's score from the board: their deltas stamped up to now no longer
    count there (on a finalised board, their final row goes). Http404 for an unknown board
    or player, or a player without a score there (banned or not); a second removal moves
    the cut-off on. Audited."""
    reason = reason_checked(reason, required=False)
    # Locked: a finalisation running at the same time would freeze the score being removed.
    board = (
        Board.objects.select_for_update().filter(slug=board_slug).first()
        if "\x00" not in board_slug
        else None
    )
    if board is None:
        raise Http404(f"No board {board_slug!r}.")
    player = (
        Player.objects.filter(external_id=player_id).first() if "\x00" not in player_id else None
    )
    if player is None:
        raise Http404(f"No player {player_id!r}.")
    window = Window.of_board(board)
    if board.finalized_at is not None:
        removed, _ = FinalStanding.objects.filter(board=board, player=player).delete()
        if removed:
            final_standings_rerank(window, board_id=board.pk)
    else:
        removed = standings_has_score(window, player.pk)
    if not removed:
        raise Http404(f"Player {player_id!r} has no score on board {board.slug!r}.")
    cut_at = now or timezone.now()
    cut, created = ScoreCut.objects.get_or_create(
        board=board, player=player, defaults={"cut_at": cut_at}
    )
    if not created and cut.cut_at < cut_at:
        cut.cut_at = cut_at
        cut.save(update_fields=["cut_at"])
    audit_record(
        action=AuditAction.REMOVE_SCORE,
        actor=actor,
        reason=reason,
        player_id=player_id,
        board=board.slug,
    )
    cache_drop_board_on_commit(board.pk)
    # Open streams of the board read it again (never raises).
    transaction.on_commit(partial(changes_publish, boards=[board.pk]))
    return cut


@transaction.atomic
def board_reopen(*, board_id: int, reason: str, actor: Actor, now: datetime | None = None) -> Board:
    """Reopen a finalised board: its final standings go, late events count again, and it
    waits for staff to finalise it again. Http404 for an unknown board; ValidationError
    without a reason, for a board not final, or for one the log can no longer rank (the
    retention dropped deltas its window reads raw). Audited."""
    reason = reason_checked(reason, required=True)
    board = Board.objects.select_for_update().filter(pk=board_id).first()
    if board is None:
        raise Http404(f"No board with id {board_id!r}.")
    if board.finalized_at is None:
        raise ValidationError(f"Board {board.slug!r} is not finalised.")
    window = Window.of_board(board)
    hour = timedelta(hours=1)
    cuts = ScoreCut.objects.filter(board=board).values_list("cut_at", flat=True)
    # Raises DeltasRetired (a ValidationError) naming what is gone.
    deltas_retained([(board.starts_at, board.ends_at)] if window.tournament else raw_spans(window))
    deltas_retained([(cut_at, cut_at + hour) for cut_at in cuts])
    FinalStanding.objects.filter(board=board).delete()
    board.finalized_at = None
    board.late_events = 0
    board.reopened_at = now or timezone.now()
    # A league's players who first scored after the finalisation get their places here
    # (leaderboards/signals.py), and the definitions catalog forgets the board.
    board.save(update_fields=["finalized_at", "late_events", "reopened_at"])
    audit_record(action=AuditAction.REOPEN, actor=actor, reason=reason, board=board.slug)
    cache_drop_board_on_commit(board.pk)
    transaction.on_commit(partial(changes_publish, boards=[board.pk]))
    return board
