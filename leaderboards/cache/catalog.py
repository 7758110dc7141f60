"""Board and series definitions for reads, without PostgreSQL on the way.

A read of a cached board needs its definition (id, order, window, status) before it can ask
Redis for ranks. Asking PostgreSQL for it on every request costs a query and makes reads
fail while the database is down, so definitions are kept in two layers:

- a per-process dict, each entry at most LEADERBOARD_CATALOG_MAX_AGE_MS (1 s) old: most
  reads touch nothing;
- the catalog hash in Redis (leaderboards/cache/store.py), shared by every process, filled from
  PostgreSQL on a miss.

Invalidation: every save or delete of a board or a series (services, admin, finalisation;
leaderboards/signals.py) forgets the whole catalog, in Redis and in this process, at once
and again once its transaction commits. A reader that read PostgreSQL before a change
cannot write its copy back afterwards: it fills only if the catalog's version (bumped by
each invalidation) is still the one it saw before reading. Other processes see a change
within LEADERBOARD_CATALOG_MAX_AGE_MS. The periodic cache sync rewrites the catalog from
PostgreSQL, so an invalidation lost to a Redis outage heals within one sync.

With Redis down, definitions come from PostgreSQL; with both down, the read fails as
unavailable (503). Definitions are stored pickled: Redis is trusted with pickles, as it is
by django-redis, whose default serializer pickles.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import time
from collections.abc import Callable
from typing import TypeVar

import django
import redis
from django.db import transaction
from django.http import Http404

from config.staleness import catalog_max_age
from leaderboards.cache.store import CATALOG, get_store, redis_failed, redis_unavailable
from leaderboards.models import Board, Series

logger = logging.getLogger(__name__)

T = TypeVar("T", Board, Series)


def _catalog_key() -> str:
    """The catalog's Redis key: pickles of today's models are no use to a deploy whose
    models have other fields, so the key names them (and the Django version). The name is
    a hash tag, so the catalog and its version share a Redis Cluster slot."""
    fields = [
        f"{model.__name__}.{field.attname}"
        for model in (Board, Series)
        for field in model._meta.concrete_fields
    ]
    digest = hashlib.sha1("|".join([django.__version__, *fields]).encode()).hexdigest()
    return f"{CATALOG}:{{{digest[:12]}}}"


class Catalog:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Board | Series]] = {}
        self._key: str | None = None

    @property
    def key(self) -> str:
        if self._key is None:
            self._key = _catalog_key()
        return self._key

    def board(self, slug: str) -> Board:
        """The board (with its series), or Http404."""
        return self._get(
            f"board:{slug}",
            lambda: Board.objects.select_related("series").filter(slug=slug).first(),
            "No Board matches the given query.",  # get_object_or_404's words
        )

    def series(self, slug: str) -> Series:
        """The series, or Http404."""
        return self._get(
            f"series:{slug}",
            lambda: Series.objects.filter(slug=slug).first(),
            "No Series matches the given query.",
        )

    def clear(self) -> None:
        """Forget this process's copies."""
        self._entries.clear()

    def invalidate(self) -> None:
        """Forget every definition, here and in Redis (leaderboards/signals.py calls it)."""
        self.clear()
        where = ""
        try:
            store = get_store()
            where = store.node_name(self.key)
            if redis_unavailable(where):
                return
            store.catalog_invalidate(self.key)
        except redis.RedisError as exc:
            redis_failed(where)
            logger.warning("could not invalidate the board catalog: %s", exc)

    def refresh(self) -> int:
        """Rewrite the Redis catalog from PostgreSQL (the periodic sync): a snapshot of every
        board and series, unless an invalidation came in while it was read. Returns how many
        definitions were written (0 when it gave way)."""
        store = get_store()
        version = store.catalog_version(self.key)
        entries = {
            f"board:{board.slug}": pickle.dumps(board)
            for board in Board.objects.select_related("series")
        }
        entries.update(
            {f"series:{series.slug}": pickle.dumps(series) for series in Series.objects.all()}
        )
        return len(entries) if store.catalog_replace(self.key, version, entries) else 0

    def _get(self, field: str, load: Callable[[], T | None], missing: str) -> T:
        now = time.monotonic()
        hit = self._entries.get(field)
        if hit is not None and now - hit[0] < catalog_max_age():
            return hit[1]
        found = self._from_redis_or_database(field, load)
        if found is None:
            raise Http404(missing)
        self._entries[field] = (now, found)
        return found

    def _from_redis_or_database(self, field: str, load: Callable[[], T | None]) -> T | None:
        if redis_unavailable():
            return load()
        where = ""
        try:
            store = get_store()
            where = store.node_name(self.key)
            if redis_unavailable(where):
                return load()
            version, raw = store.catalog_lookup(self.key, field)
        except redis.RedisError as exc:
            redis_failed(where)
            logger.warning("redis unavailable, reading %s from PostgreSQL: %s", field, exc)
            return load()
        if raw is not None:
            return pickle.loads(raw)
        found = load()
        if found is not None and not transaction.get_connection().in_atomic_block:
            # Inside a transaction the row may be one it has not committed.
            try:
                store.catalog_fill(self.key, version, {field: pickle.dumps(found)})
            except redis.RedisError as exc:
                redis_failed(where)
                logger.warning("could not cache the definition of %s: %s", field, exc)
        return found


catalog = Catalog()
