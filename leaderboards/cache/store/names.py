"""The players' display names beside the boards (the names hash), which the read scripts
answer with."""

from __future__ import annotations

from collections.abc import Iterable

from redis.commands.core import Script

from leaderboards.cache.store.keys import NAMES, NAMES_LOADED
from leaderboards.cache.store.routing import Router
from leaderboards.cache.store.writes import BUILD_CHUNK


class NamesStorage(Router):
    _names_load: Script

    def names_loaded(self) -> bool:
        return bool(self.redis.hexists(NAMES, NAMES_LOADED))

    def names_load(self, rows: Iterable[tuple[str, str]]) -> int:
        """Fill the names hash from a snapshot of (external id, display name) rows, then mark
        it loaded. A name set since the snapshot was read (names_set, after its commit) is
        newer than the snapshot's and stays (names_load.lua)."""
        loaded = 0
        chunk: list[str] = []
        for external_id, name in rows:
            chunk += (external_id, name)
            if len(chunk) >= 2 * BUILD_CHUNK:
                loaded += self._names_load(keys=[NAMES], args=chunk)
                chunk = []
        if chunk:
            loaded += self._names_load(keys=[NAMES], args=chunk)
        self.redis.hset(NAMES, NAMES_LOADED, "1")
        return loaded

    def names_set(self, names: dict[str, str]) -> None:
        """Committed display names ('' for none): newer than anything in the hash."""
        if names:
            self.redis.hset(NAMES, mapping=names)

    def names_forget(self, external_ids: Iterable[str]) -> None:
        """Players gone for good (an erasure): their fields, id and name, out of the hash."""
        fields = list(external_ids)
        if fields:
            self.redis.hdel(NAMES, *fields)
