"""The Redis client of the store, its per-thread read connections and its breaker.

After a Redis error, reads go straight to PostgreSQL for a few seconds instead of each
waiting on a dead cache; on a cluster, per node, so the boards of the nodes that answer
are still read from Redis (`redis_failed`, `redis_unavailable`).
"""

from __future__ import annotations

import os
import time
import weakref

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.connection import Connection, ConnectionPool
from redis.exceptions import RedisClusterException
from redis.retry import Retry


class ThreadConnections(dict):
    """One thread's read connections by node name ('' on a single Redis), each checked out
    of its node's pool on the thread's first read there. The thread-local holding this
    drops it when the thread ends (runserver ends one per request), and the finalizer
    checks them back in, to be reused by the next thread: never given back, they would
    count against the pool's max_connections until every read failed with "Too many
    connections" and went to PostgreSQL."""

    def __init__(self) -> None:
        super().__init__()
        self._checked_out: list[tuple[ConnectionPool, Connection]] = []
        weakref.finalize(self, check_in, self._checked_out, os.getpid()).atexit = False

    def check_out(self, node_name: str, pool: ConnectionPool) -> Connection:
        connection = pool.get_connection()
        self._checked_out.append((pool, connection))
        self[node_name] = connection
        return connection


def check_in(checked_out: list[tuple[ConnectionPool, Connection]], pid: int) -> None:
    """Give a thread's read connections back to their pools; not in a forked child, to
    which they do not belong (the pools there start empty)."""
    if os.getpid() != pid:
        return
    for pool, connection in checked_out:
        pool.release(connection)


REDIS_RETRY_AFTER_SECONDS = 5.0
_redis_down_until: dict[str, float] = {}


def redis_unavailable(node: str = "") -> bool:
    """Whether Redis (on a cluster: the node, BoardStore.node_name) failed less than
    REDIS_RETRY_AFTER_SECONDS ago."""
    return time.monotonic() < _redis_down_until.get(node, 0.0)


def redis_failed(node: str = "") -> None:
    """Note a Redis error: callers skip Redis (the node) for the next few seconds."""
    _redis_down_until[node] = time.monotonic() + REDIS_RETRY_AFTER_SECONDS


def redis_breaker_reset() -> None:
    """Forget every noted Redis error: the next read tries Redis again (tests, after they
    bring a Redis back)."""
    _redis_down_until.clear()


def connect() -> redis.Redis | RedisCluster:
    """A client for REDIS_URL: a single Redis, or with REDIS_CLUSTER the cluster that node
    belongs to. Short timeouts: a slow or absent Redis must not hold up reads, which fall
    back to PostgreSQL; on a cluster one retry after reading the slot map again (what a
    failover needs) rather than redis-py's three with backoff."""
    options = {"socket_timeout": 2, "socket_connect_timeout": 1, "health_check_interval": 30}
    if not settings.REDIS_CLUSTER:
        return redis.Redis.from_url(settings.REDIS_URL, **options)
    try:
        return RedisCluster.from_url(
            settings.REDIS_URL, retry=Retry(NoBackoff(), 1), require_full_coverage=False, **options
        )
    except RedisClusterException as exc:  # no node answered the slot map
        raise redis.ConnectionError(f"Redis Cluster at {settings.REDIS_URL}: {exc}") from exc
