"""Writes to players."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from players.models import Player

_ENSURE_SQL = """
WITH input AS (SELECT DISTINCT unnest(%(ids)s::text[]) AS external_id ORDER BY 1),
inserted AS (
    INSERT INTO players_player (external_id) SELECT external_id FROM input
    ON CONFLICT (external_id) DO NOTHING
    RETURNING id, external_id
)
SELECT id, external_id FROM inserted
UNION ALL
SELECT p.id, p.external_id FROM players_player p JOIN input USING (external_id)
"""


_LOOKUP_SQL = "SELECT id, external_id FROM players_player WHERE external_id = ANY(%(ids)s)"


def players_ensure(*, external_ids: Iterable[str]) -> dict[str, int]:
    """Primary keys for these external ids, creating the players that are new, in one
    statement. Runs in the caller's transaction."""
    ids = sorted(set(external_ids))
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_ENSURE_SQL, {"ids": ids})
        pks = {external_id: pk for pk, external_id in cursor.fetchall()}
        if len(pks) < len(ids):
            # Another transaction inserted some of them while ours waited on their rows:
            # the insert skipped them and the statement's snapshot predates them. A new
            # statement sees them (READ COMMITTED).
            cursor.execute(_LOOKUP_SQL, {"ids": [i for i in ids if i not in pks]})
            pks.update({external_id: pk for pk, external_id in cursor.fetchall()})
        return pks


_RENAME_SQL = """
UPDATE players_player p SET display_name = v.name, display_name_at = v.at
FROM unnest(%(ids)s::text[], %(names)s::text[], %(ats)s::timestamptz[]) AS v(external_id, name, at)
WHERE p.external_id = v.external_id
  AND (p.display_name_at IS NULL OR p.display_name_at < v.at)
RETURNING p.external_id, p.display_name
"""


def players_rename(*, names: dict[str, tuple[str, datetime]]) -> dict[str, str]:
    """Set each player's display name to (name, set_at) unless the stored one was set later
    (the latest name wins, whatever order events arrive in; a replayed event changes
    nothing). The players must exist. Returns the names that changed, by external id, in
    one statement; runs in the caller's transaction."""
    if not names:
        return {}
    ids = sorted(names)
    with connection.cursor() as cursor:
        cursor.execute(
            _RENAME_SQL,
            {
                "ids": ids,
                "names": [names[i][0] for i in ids],
                "ats": [names[i][1] for i in ids],
            },
        )
        return dict(cursor.fetchall())


def player_profile_set(
    *, external_id: str, display_name: str | None = None, metadata: dict[str, Any] | None = None
) -> tuple[Player, bool]:
    """Create the player or change what is given of its profile (already checked against
    players/profiles.py); True when it was created. A name set here is stamped now, so an
    event stamped earlier no longer renames the player. Readers see the name once the
    transaction commits (leaderboards/signals.py)."""
    with transaction.atomic():
        player, created = Player.objects.select_for_update().get_or_create(external_id=external_id)
        if display_name is not None:
            player.display_name = display_name
            player.display_name_at = timezone.now()
        if metadata is not None:
            player.metadata = metadata
        player.save()
    return player, created
