"""Writes to players."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from players.erasure import tombstones_of
from players.models import Player

# Created rows are marked checked: the caller checks them against the tombstones in the
# same transaction (players_ensure_checked), before anyone else can see them.
_ENSURE_SQL = """
WITH input AS (SELECT DISTINCT unnest(%(ids)s::text[]) AS external_id ORDER BY 1),
inserted AS (
    INSERT INTO players_player (external_id, tombstone_checked)
    SELECT external_id, TRUE FROM input
    ON CONFLICT (external_id) DO NOTHING
    RETURNING id, external_id
)
SELECT id, external_id, TRUE, TRUE, NULL::timestamptz FROM inserted
UNION ALL
SELECT p.id, p.external_id, FALSE, p.tombstone_checked, p.replays_until
  FROM players_player p JOIN input USING (external_id)
"""


_LOOKUP_SQL = """
SELECT id, external_id, FALSE, tombstone_checked, replays_until
  FROM players_player WHERE external_id = ANY(%(ids)s)
"""

_MARK_SQL = """
UPDATE players_player p SET tombstone_checked = TRUE, replays_until = v.until
  FROM unnest(%(pks)s::bigint[], %(untils)s::timestamptz[]) AS v(pk, until)
 WHERE p.id = v.pk
"""


@dataclass(frozen=True, slots=True)
class EnsuredPlayers:
    pks: dict[str, int]  # every id asked for -> the player's key
    # Ids whose events stamped at or before this time replay an erased player's.
    replays_until: dict[str, datetime]
    created: frozenset[str]  # ids this call created


def players_ensure(*, external_ids: Iterable[str]) -> dict[str, int]:
    """Primary keys for these external ids, creating the players that are new (see
    players_ensure_checked). Runs in the caller's transaction."""
    return players_ensure_checked(external_ids=external_ids).pks


def players_ensure_checked(*, external_ids: Iterable[str]) -> EnsuredPlayers:
    """Primary keys for these external ids, creating the players that are new, in one
    statement; and for ids of erased players, until when their events are replays. Runs
    in the caller's transaction.

    Only the ids that need it are hashed and looked up among the tombstones (a second
    query): the players this call created, and rows made elsewhere not checked yet. A row
    already checked carries its answer (`replays_until`). The tombstones are read by a
    statement after the one that created the rows, which matters for a race with an
    erasure (leaderboards/erasure.py, the module docstring)."""
    ids = sorted(set(external_ids))
    if not ids:
        return EnsuredPlayers({}, {}, frozenset())
    with connection.cursor() as cursor:
        cursor.execute(_ENSURE_SQL, {"ids": ids})
        rows = cursor.fetchall()
        seen = {row[1] for row in rows}
        if len(seen) < len(ids):
            # Another transaction inserted some of them while ours waited on their rows:
            # the insert skipped them and the statement's snapshot predates them. A new
            # statement sees them (READ COMMITTED).
            cursor.execute(_LOOKUP_SQL, {"ids": [i for i in ids if i not in seen]})
            rows += cursor.fetchall()
    # A row deleted by a transaction that committed while the insert waited on it (an
    # erasure) is still in the statement's snapshot, beside the row the insert made: the
    # new row is the player.
    created = {external_id: pk for pk, external_id, new, _, _ in rows if new}
    existing = {
        external_id: (pk, checked, until)
        for pk, external_id, new, checked, until in rows
        if not new and external_id not in created
    }
    pks = {external_id: pk for external_id, (pk, _, _) in existing.items()} | created
    until = {i: at for i, (_, _, at) in existing.items() if at is not None}
    unchecked = {i for i, (_, checked, _) in existing.items() if not checked}
    check = created.keys() | unchecked
    if check:
        erased = tombstones_of(check)
        until.update(erased)
        marks = {pks[i]: erased.get(i) for i in check if i in erased or i in unchecked}
        if marks:
            with connection.cursor() as cursor:
                cursor.execute(_MARK_SQL, {"pks": list(marks), "untils": list(marks.values())})
    return EnsuredPlayers(pks, until, frozenset(created))


_HOLD_SQL = """
SELECT count(*) FROM (SELECT FROM players_player WHERE id = ANY(%s::bigint[]) FOR KEY SHARE) held
"""


def players_hold(*, pks: Iterable[int]) -> None:
    """Keep these players' rows from being deleted until the caller's transaction ends (a
    KEY SHARE lock, the one a foreign key check takes), or raise IntegrityError when one
    is gone already. For rows that refer to players without a foreign key: the delta log
    (leaderboards/erasure.py says why it has none, and how the race goes)."""
    wanted = sorted(set(pks))
    if not wanted:
        return
    with connection.cursor() as cursor:
        cursor.execute(_HOLD_SQL, [wanted])
        (held,) = cursor.fetchone()
    if held < len(wanted):
        raise IntegrityError(f"{len(wanted) - held} of the players are gone")


_DISCARD_SQL = "DELETE FROM players_player WHERE id = ANY(%s)"


def players_discard(*, pks: Iterable[int]) -> None:
    """Delete players this transaction created and nothing refers to (an erased player's id
    whose every event in the batch was a replay). In the caller's transaction."""
    wanted = list(pks)
    if wanted:
        with connection.cursor() as cursor:
            cursor.execute(_DISCARD_SQL, [wanted])


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
