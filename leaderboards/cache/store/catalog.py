"""The definitions catalog's storage in Redis: a hash of pickled boards and series and the
count of its invalidations (leaderboards/cache/catalog.py is what reads and fills it)."""

from __future__ import annotations

from redis.commands.core import Script

from leaderboards.cache.store.routing import Router


class CatalogStorage(Router):
    _catalog_fill: Script

    def catalog_version(self, catalog: str) -> int:
        return int(self.redis.get(f"{catalog}:version") or 0)

    def catalog_lookup(self, catalog: str, field: str) -> tuple[int, bytes | None]:
        """The catalog's version and one definition, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(f"{catalog}:version")
        pipe.hget(catalog, field)
        version, raw = pipe.execute()
        return int(version or 0), raw

    def catalog_fill(self, catalog: str, version: int, entries: dict[str, bytes]) -> bool:
        """Store definitions read from PostgreSQL, unless the catalog was invalidated since
        `version` was read (they may predate that change)."""
        return self._catalog_write(catalog, version, entries, replace=False)

    def catalog_replace(self, catalog: str, version: int, entries: dict[str, bytes]) -> bool:
        """Replace every definition with a snapshot read at `version`, unless the catalog
        was invalidated since."""
        return self._catalog_write(catalog, version, entries, replace=True)

    def _catalog_write(
        self, catalog: str, version: int, entries: dict[str, bytes], *, replace: bool
    ) -> bool:
        flat = [item for pair in entries.items() for item in pair]
        keys = [catalog, f"{catalog}:version"]
        return bool(self._catalog_fill(keys=keys, args=[version, int(replace), *flat]))

    def catalog_invalidate(self, catalog: str) -> None:
        """Forget every definition and count an invalidation."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(catalog)
        pipe.incr(f"{catalog}:version")
        pipe.execute()
