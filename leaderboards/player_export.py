"""A player's data, exported (issue 21, GDPR article 15): everything held on them, as JSON.

`player_export` reads what is small up front and records the export in the audit log: the
profile, the ban, the rank and score on every live board (read like any board read), final
standings, participations, league places and the moderation entries naming them. The
events, which may be millions, are streamed after it (`PlayerExport.chunks`), through a
server-side cursor EXPORT_CHUNK rows at a time, so memory holds one chunk whatever the
count. The delta log has no index on the player (ingestion pays for each index), so the
stream reads the log through; the answer starts once the log is read.

Shape: `{"player": …, "ban": …, "boards": […], "final_standings": […],
"participations": […], "league_places": […], "moderation": […], "events": […]}`; an event
is `{"dedupe_key", "metric", "delta", "created_at", "ingested_at"}` (the dedupe key is
what the log keeps of an event's `event_id`, hashed, or of player, metric and time).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import msgspec
from django.db import transaction
from django.http import Http404

from config.database import named_cursor
from leaderboards.models import BucketMember, FinalStanding, Participant
from leaderboards.selectors import player_standings
from players.audit import Actor, audit_record
from players.models import AuditAction, AuditEntry, Player

EXPORT_CHUNK = 2_000

_encode = msgspec.json.Encoder().encode

_EVENTS_SQL = """
SELECT dedupe_key, metric, delta, created_at, ingested_at FROM leaderboards_scoredelta
 WHERE player_id = %s ORDER BY created_at, dedupe_key
"""
_EVENT_FIELDS = ("dedupe_key", "metric", "delta", "created_at", "ingested_at")


@dataclass(frozen=True, slots=True)
class PlayerExport:
    head: dict[str, Any]  # everything but the events
    player_pk: int

    def chunks(self) -> Iterator[bytes]:
        """The export as JSON, in pieces: the head, then the events a chunk at a time."""
        yield _encode(self.head)[:-1] + b',"events":['
        first = True
        with transaction.atomic(), named_cursor("player_export", EXPORT_CHUNK) as cursor:
            cursor.execute(_EVENTS_SQL, [self.player_pk])
            while rows := cursor.fetchmany(EXPORT_CHUNK):
                events = _encode([dict(zip(_EVENT_FIELDS, row, strict=True)) for row in rows])
                yield (b"" if first else b",") + events[1:-1]
                first = False
        yield b"]}"


def player_export(*, player_id: str, actor: Actor) -> PlayerExport:
    """The player's export (Http404 if unknown), recorded in the audit log. The row is
    locked while the export is recorded, so an erasure running meanwhile (which locks it
    too) finds the entry and rewrites it to the hash."""
    with transaction.atomic():
        player = (
            Player.objects.select_for_update(no_key=True).filter(external_id=player_id).first()
            if "\x00" not in player_id
            else None
        )
        if player is None:
            raise Http404(f"No player {player_id!r}.")
        audit_record(action=AuditAction.EXPORT, actor=actor, player_id=player_id)
        held = {
            "player": {
                "player_id": player.external_id,
                "display_name": player.display_name or None,
                "metadata": player.metadata,
                "created_at": player.created_at,
            },
            "ban": {
                "banned": player.banned_at is not None,
                "reason": player.ban_reason or None,
                "banned_at": player.banned_at,
            },
            "final_standings": _final_standings(player),
            "participations": [
                {"board": board, "joined_at": joined_at}
                for board, joined_at in Participant.objects.filter(player=player)
                .order_by("joined_at", "id")
                .values_list("board__slug", "joined_at")
            ],
            "league_places": [
                {"board": board, "bucket": _bucket(position, size), "position": position}
                for board, position, size in BucketMember.objects.filter(player=player)
                .order_by("board__slug")
                .values_list("board__slug", "position", "board__bucket_size")
            ],
            "moderation": [
                {"action": action, "reason": reason, "board": board, "created_at": at}
                for action, reason, board, at in AuditEntry.objects.filter(player_id=player_id)
                .order_by("created_at", "id")
                .values_list("action", "reason", "board", "created_at")
            ],
        }
    # After the transaction: a board read from Redis may be built, which needs one of its own.
    boards = [asdict(standing) for standing in player_standings(player_id)]
    head = {"player": held.pop("player"), "ban": held.pop("ban"), "boards": boards, **held}
    return PlayerExport(head=head, player_pk=player.pk)


def _bucket(position: int, size: int | None) -> int | None:
    """The bucket of a league place (None once the board is a league no more)."""
    return (position - 1) // size + 1 if size else None


def _final_standings(player: Player) -> list[dict[str, Any]]:
    """Every board the player is frozen on; `rank` and `position` null while banned."""
    rows = (
        FinalStanding.objects.filter(player=player)
        .order_by("board__finalized_at", "board__slug")
        .values_list("board__slug", "board__finalized_at", "rank", "position", "score")
    )
    return [
        {
            "board": board,
            "finalized_at": finalized_at,
            "rank": rank,
            "position": position,
            "score": score,
        }
        for board, finalized_at, rank, position, score in rows
    ]
