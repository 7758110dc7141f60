"""Reads of players."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from django.db import connection

from config.database import named_cursor
from players.models import Player


def player_display_names(*, external_ids: Iterable[str]) -> dict[str, str]:
    """Display name per external id; players without one are shown by their id."""
    ids = list(set(external_ids))
    if not ids:
        return {}
    rows = Player.objects.filter(external_id__in=ids).values_list("external_id", "display_name")
    return {external_id: name or external_id for external_id, name in rows}


_NAMES_SQL = "SELECT external_id, display_name FROM players_player WHERE display_name <> ''"


def player_names_stream(chunk: int = 5_000) -> Iterator[tuple[str, str]]:
    """(external id, display name) of every named player, through a server-side cursor
    in the caller's transaction (call it inside one)."""
    with named_cursor("names", chunk) as cursor:
        cursor.execute(_NAMES_SQL)
        yield from cursor


def players_banned(*, pks: Iterable[int]) -> set[int]:
    """Which of these players (by pk) are banned: one query over the partial index."""
    wanted = list(set(pks))
    if not wanted:
        return set()
    # One array parameter: an ORM `pk__in` of a batch's thousands of players cost the
    # consumer 7% of its time binding them one by one.
    with connection.cursor() as cursor:
        cursor.execute(_BANNED_SQL, [wanted])
        return {pk for (pk,) in cursor}


_BANNED_SQL = "SELECT id FROM players_player WHERE id = ANY(%s::bigint[]) AND banned_at IS NOT NULL"
