"""Moderation (issue 21): banning and unbanning a player, audited.

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
"""

from __future__ import annotations

import logging

import redis
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from leaderboards.cache.builds import cache_drop_all
from leaderboards.models import Board, FinalStanding
from leaderboards.postgres.final import final_standings_rerank
from leaderboards.ranking import Window
from players.audit import Actor, audit_record
from players.models import AuditAction, Player

logger = logging.getLogger(__name__)

BAN_REASON_MAX_LENGTH = 500


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
