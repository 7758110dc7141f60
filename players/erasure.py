"""The players' side of an erasure (leaderboards/erasure.py runs the whole of it): the
tombstones that outlive an erased player, and the player's own rows.

A tombstone holds the keyed hash of the external id (players/audit.py's `player_hash`)
and when the player was erased, never the id: enough to tell that an event arriving later
replays what was erased (players/services.py's `players_ensure_checked`), and to let a
retried erasure find that it is done.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from players.audit import player_hash
from players.models import AuditEntry, Player, Tombstone

REDACTED = "[erased]"

_TOMBSTONES_SQL = "SELECT player_hash, erased_at FROM players_tombstone WHERE player_hash = ANY(%s)"


def tombstones_of(external_ids: Iterable[str]) -> dict[str, datetime]:
    """When each of these ids was erased, for those that were (the latest erasure): one
    query, by the ids' keyed hashes."""
    hashes = {player_hash(external_id): external_id for external_id in set(external_ids)}
    if not hashes:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_TOMBSTONES_SQL, [list(hashes)])
        return {hashes[hashed]: erased_at for hashed, erased_at in cursor.fetchall()}


def tombstone_exists(hashed: str) -> bool:
    return Tombstone.objects.filter(player_hash=hashed).exists()


_TOMBSTONE_SET_SQL = """
INSERT INTO players_tombstone (player_hash, erased_at) VALUES (%s, %s)
ON CONFLICT (player_hash) DO UPDATE
SET erased_at = GREATEST(players_tombstone.erased_at, EXCLUDED.erased_at)
"""


def player_forget(*, player: Player, hashed: str, erased_at: datetime) -> None:
    """The last of an erasure, in its transaction: the player's row, what the audit log and
    the admin's history say of it (the id and name in clear), and the tombstone in its
    place. The caller has deleted every row that refers to the player."""
    names = [n for n in (player.external_id, player.display_name) if n]
    # Entries that name the player keep their action, by the hash alone.
    AuditEntry.objects.filter(player_id=player.external_id).update(player_id="", player_hash=hashed)
    for name in names:
        _redact("players_auditentry", ["reason"], name)
    _admin_history_forget(player, names)
    with connection.cursor() as cursor:
        # Raw, not Model.delete(): no signals (the Redis side comes after the commit) and
        # no collector reading each related table (the caller emptied them).
        cursor.execute("DELETE FROM players_player WHERE id = %s", [player.pk])
        cursor.execute(_TOMBSTONE_SET_SQL, [hashed, erased_at])


def _admin_history_forget(player: Player, names: list[str]) -> None:
    """The admin's change history of the player goes; other entries that quote the id or
    the name (a related object's name, say) keep their action, the words redacted."""
    player_type = ContentType.objects.get_for_model(Player)
    LogEntry.objects.filter(content_type=player_type, object_id=str(player.pk)).delete()
    for name in names:
        _redact("django_admin_log", ["object_repr", "change_message"], name)


def _redact(table: str, columns: list[str], name: str) -> None:
    """Replace `name` in the free text of these columns where it stands as a word of its
    own (not inside a longer id or word: "p1" leaves "p12" be), in rows that hold it."""
    # An ARE: every character that is not a letter or digit escaped, so it is literal.
    literal = "".join(char if char.isalnum() else "\\" + char for char in name)
    pattern = f"(?<![[:alnum:]_]){literal}(?![[:alnum:]_])"
    sets = ", ".join(f"{c} = regexp_replace({c}, %(pattern)s, %(redacted)s, 'g')" for c in columns)
    holds = " OR ".join(f"strpos({c}, %(name)s) > 0" for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {sets} WHERE {holds}",
            {"pattern": pattern, "redacted": REDACTED, "name": name},
        )
