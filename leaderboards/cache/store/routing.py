"""Where the store's commands go: the node that owns a key, pipelines of one round trip per
node, and the read path's own connections. On a single Redis all of it is one server."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence

import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.exceptions import AskError, ClusterDownError, RedisClusterException, TryAgainError

from leaderboards.cache.store.client import ThreadConnections
from leaderboards.cache.store.keys import BoardKeys
from leaderboards.models import Board

logger = logging.getLogger(__name__)


def unreachable(reply: object) -> bool:
    """Whether a pipelined reply is a node's failure (down, loading, failing over, a slot
    moving) rather than the command's own error. redis-py's parser turns the error codes
    into these classes (and strips the code from the message)."""
    return isinstance(
        reply, (redis.ConnectionError, redis.TimeoutError, ClusterDownError, TryAgainError)
    )


def redirected(reply: object) -> bool:
    """Whether a reply says the slot lives on another node now (a failover, a reshard):
    MOVED or ASK (redis-py's MovedError is an AskError)."""
    return isinstance(reply, AskError)


class Router:
    """The client, and the commands routed to the nodes that own their keys; the store's
    reads and writes build on it."""

    def __init__(self, client: redis.Redis | RedisCluster) -> None:
        self.redis = client
        self.cluster = isinstance(client, RedisCluster)
        self._local = threading.local()  # each thread's read connections (see _read)

    def node_name(self, key: str) -> str:
        """The node that owns the key ('' on a single Redis): what `redis_failed` and
        `redis_unavailable` take. A slot no node serves is named by itself, so a failure
        there holds back that slot's reads only, never the whole cluster's."""
        if not self.cluster:
            return ""
        slot = self.redis.keyslot(key)
        try:
            return self.redis.nodes_manager.get_node_from_slot(slot).name
        except RedisClusterException:
            return f"slot {slot}"

    def board_node(self, board: Board) -> str:
        return self.node_name(BoardKeys.of(board.pk).meta) if self.cluster else ""

    def _node_of(self, key: str):
        try:
            return self.redis.nodes_manager.get_node_from_slot(self.redis.keyslot(key))
        except RedisClusterException as exc:  # the slot has no node
            raise redis.ConnectionError(f"no Redis Cluster node for {key}: {exc}") from exc

    def _topology_changed(self) -> None:
        """Read the cluster's slot map again (after a node failed, or moved a slot)."""
        try:
            self.redis.nodes_manager.initialize()
        except (redis.RedisError, RedisClusterException) as exc:
            logger.warning("could not refresh the Redis Cluster slot map: %s", exc)

    def _pipelined(
        self, calls: Sequence[tuple[str, Callable[[redis.client.Pipeline], object]]]
    ) -> list:
        """Run calls, each a key it touches and a function queueing its one command on a
        pipeline, in one round trip per node: on a single Redis one pipeline (whose
        failure raises, as any command's); on a cluster one per node that owns the keys,
        where a node that fails gives its error as the result of its calls and the others
        still answer (a cluster pipeline would fail whole). A call redirected to another
        node (a failover, a reshard) is sent once more after the slot map is read again.
        Results are in call order."""
        if not self.cluster:
            pipe = self.redis.pipeline(transaction=False)
            for _, queue in calls:
                queue(pipe)
            return pipe.execute() if calls else []
        results: list = [None] * len(calls)
        self._pipelined_by_node(calls, range(len(calls)), results, retry=True)
        return results

    def _pipelined_by_node(self, calls, indexes, results: list, *, retry: bool) -> None:
        groups: dict[str, tuple[object, list[int]]] = {}
        for i in indexes:
            try:
                node = self._node_of(calls[i][0])
            except redis.ConnectionError as exc:
                results[i] = exc
                continue
            groups.setdefault(node.name, (node, []))[1].append(i)
        moved = []
        for node, group in groups.values():
            pipe = self.redis.get_redis_connection(node).pipeline(transaction=False)
            for i in group:
                calls[i][1](pipe)
            try:
                replies = pipe.execute(raise_on_error=False)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                logger.warning("redis cluster node %s failed: %s", node.name, exc)
                replies = [exc] * len(group)
                if retry:
                    self._topology_changed()
            for i, reply in zip(group, replies, strict=True):
                results[i] = reply
                if redirected(reply):
                    moved.append(i)
        if moved and retry:
            self._topology_changed()
            self._pipelined_by_node(calls, moved, results, retry=False)

    def _read(self, script: Script, keys: list[str], args: list):
        """Run a read script on a connection this thread keeps to itself (one per node on a
        cluster, to the node that owns the keys' slot), checked out of the node's pool on
        the thread's first read and given back when the thread ends (ThreadConnections).
        redis-py's command path (a pool checkout that polls the socket, the retry wrapper,
        the script's own NOSCRIPT handling) cost a large share of a read's round trip
        (docs/benchmarks.md). As there: a script Redis forgot (a restart) is loaded again,
        a connection found closed (an idle timeout, a restart) is opened again once, a slot
        that moved (a failover) is followed once, and any other error drops the connection
        and goes to the caller. A forked child opens its own (sharing the parent's socket would mix
        the two processes' replies)."""
        for attempt in (1, 2):
            connection = None
            try:
                connection = self._connection(keys[0])
                connection.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
                return connection.read_response()
            except redis.exceptions.NoScriptError:
                connection.send_command("SCRIPT", "LOAD", script.script)
                connection.read_response()
            except redis.ConnectionError:
                if connection is not None:
                    connection.disconnect()
                if attempt == 2:
                    raise
                if self.cluster:
                    self._topology_changed()
            except redis.ResponseError as exc:
                if not (self.cluster and redirected(exc) and attempt == 1):
                    raise
                self._topology_changed()
            except BaseException:
                if connection is not None:
                    connection.disconnect()
                raise
        connection = self._connection(keys[0])
        connection.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
        return connection.read_response()

    def _connection(self, key: str):
        """This thread's connection to the node that owns `key`."""
        connections = getattr(self._local, "connections", None)
        if connections is None or self._local.pid != os.getpid():  # none yet, or forked
            connections = self._local.connections = ThreadConnections()
            self._local.pid = os.getpid()
        if not self.cluster:
            connection = connections.get("")
            if connection is None:
                connection = connections.check_out("", self.redis.connection_pool)
            return connection
        node = self._node_of(key)
        connection = connections.get(node.name)
        if connection is None:
            pool = self.redis.get_redis_connection(node).connection_pool
            connection = connections.check_out(node.name, pool)
        return connection
