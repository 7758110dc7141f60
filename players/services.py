"""Writes to players."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

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
