"""Reads of players."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from players.models import Player


def player_display_names(*, external_ids: Iterable[str]) -> dict[str, str]:
    """Display name per external id; players without one are shown by their id."""
    ids = list(set(external_ids))
    if not ids:
        return {}
    rows = Player.objects.filter(external_id__in=ids).values_list("external_id", "display_name")
    return {external_id: name or external_id for external_id, name in rows}


def player_names_stream(chunk: int = 5_000) -> Iterator[tuple[str, str]]:
    """(external id, display name) of every named player, through a server-side cursor
    (call it inside a transaction): millions of players never sit in memory."""
    rows = Player.objects.exclude(display_name="").values_list("external_id", "display_name")
    yield from rows.iterator(chunk_size=chunk)
