"""The Redis leaderboard store: one sorted set per cached board.

Key names live here and nowhere else; the Lua scripts are the files of leaderboards/cache/lua/,
each saying what it takes and returns. Every key of a board carries the
hash tag `{lb:<id>}`, so a board and its bookkeeping share one Redis Cluster slot and each
script touches a single slot.

Per board:

- `lb:{<id>}:z`       the sorted set; members are player external ids.
- `lb:{<id>}:meta`    hash: `state` (building|ready|stale), `token` of the build that owns
                      it, `serving` (what the set was, ready|stale, while it is shown though
                      not ready), `lease` (epoch ms a build counts as dead after), and one
                      fence per Kafka partition, `p:<n>` = the next offset of partition n
                      that the set does not yet contain.
- `lb:{<id>}:pending` batches that arrived while the board was being built.
- `lb:{<id>}:build`   the set under construction.
- `lb:{<id>}:t`       for `last` boards, each player's event time (epoch ms); for
                      `earliest` boards, when each player's score was reached;
  `lb:{<id>}:build-t` the same under construction.

And beside the boards:

- `lb:cached`         the set of board ids that are cached. On a Redis Cluster it is kept in
                      CACHED_COPIES copies `lb:cached:{c<n>}` whose slots spread over the
                      slot space (every node holds some), and read as the union of the
                      copies that answer: with one node down, the consumer still knows the
                      boards of the others.
- `lb:names`          hash: player external id -> display name ('' for none), which the read
                      scripts answer with; its field '' marks it loaded (cache.py fills it).
                      On a Redis Cluster it lives in a slot of its own, which the read scripts
                      cannot touch: reads ask for the names in a second round trip.
- `lb:drift-cursor`   the id of the last board the cache sync compared with PostgreSQL: the
                      drift check takes the boards in turn from there (cache.py).
- `lb:catalog:{<fp>}` hash: `board:<slug>` / `series:<slug>` -> the pickled definition, so
                      reads need no PostgreSQL (leaderboards/cache/catalog.py); `<fp>` is a
                      fingerprint of the models' fields, so a deploy that changes them starts
                      a fresh catalog. `lb:catalog:{<fp>}:version` counts its invalidations
                      (the same hash tag: one slot for the script that checks both).

With `REDIS_CLUSTER` on, the store talks to redis-py's RedisCluster: each script touches the
keys of one board (one slot), the consumer's batch goes out as one pipeline per node, and a
node that does not answer costs only the boards in its slots (see `redis_failed`).

Why fences: a build reads PostgreSQL while the consumer keeps committing. The snapshot is
taken together with the consumer offsets it covers (they are written in the same
transaction as the deltas), and the consumer sends each batch as per-partition units
`[partition, from_offset, to_offset, values]`. A unit whose range the snapshot already
covers is skipped, one that starts exactly at the fence is applied and moves it, and any
other (a gap: a consumer killed between its commit and its Redis step, a lost write) marks
the board stale and it is built again from PostgreSQL. Batches that arrive during a build
are queued and replayed through the same check when the build finishes, all inside Lua
scripts, so nothing is lost or counted twice.

A set is only ever replaced, never emptied first. A stale board keeps its set, which holds
every partition up to its fence (what a reader would see had that partition's consumer
merely lagged), frozen and shown with `Page.stale` set while it is rebuilt. A rebuild of a
ready or stale board (the drift check's forced one, a stale one's) builds beside it; if the
snapshot fails (PostgreSQL down) the old set serves on, caught up from the queue when its
fences allow. So a cached board never sends readers to PostgreSQL for the cache's own
bookkeeping: only a board never built, or dropped for a new definition, does.

Scores are stored so that ascending Redis order is board order: negated for `desc` boards.
Ties then fall in member byte order. A member is the player's external id, the tie order
PostgreSQL uses too; on an `earliest` board it is the time the score was reached (epoch
ms, REACHED_WIDTH digits) followed by the external id, so equal scores fall in the order
they were reached, and ranks are places (ZRANK + 1).
"""

from __future__ import annotations

import importlib.resources
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.connection import Connection, ConnectionPool
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot
from redis.exceptions import AskError, ClusterDownError, RedisClusterException, TryAgainError
from redis.retry import Retry

from leaderboards.models import Aggregation, Board, SortOrder, TieBreak
from leaderboards.ranking import Page, Standing, competition_ranked, ordinal_ranked

logger = logging.getLogger(__name__)

CACHED_SET = "lb:cached"
CACHED_COPIES = 16  # of the cached set, on a Redis Cluster
NAMES = "lb:names"
NAMES_LOADED = ""  # the names hash's field that says it is loaded (no player id is empty)
CATALOG = "lb:catalog"
DRIFT_CURSOR = "lb:drift-cursor"
MAX_PENDING_BATCHES = 10_000
BUILD_CHUNK = 5_000
# Digits of the reached time that begin an `earliest` board's members (apply_units.lua).
REACHED_WIDTH = 15


@dataclass(frozen=True, slots=True)
class BoardKeys:
    """Every Redis key of one board."""

    meta: str  # hash: state, token, def, and the fences p:<partition>
    zset: str  # the sorted set
    pending: str  # batches queued during a build
    build: str  # the set under construction
    times: str  # epoch ms per player: a `last` score's event, an `earliest` score's reach
    build_times: str  # the times under construction

    @classmethod
    def of(cls, board_id: int) -> BoardKeys:
        tag = f"lb:{{{board_id}}}"
        return cls(*(f"{tag}:{name}" for name in ("meta", "z", "pending", "build", "t", "build-t")))

    def all(self) -> list[str]:
        """In the order the build scripts take them."""
        return [self.meta, self.zset, self.pending, self.build, self.times, self.build_times]


def load_script(*names: str) -> bytes:
    """The Lua source of leaderboards/cache/lua/<name>..., joined (a library such as
    apply_units.lua goes first)."""
    folder = importlib.resources.files("leaderboards.cache").joinpath("lua")
    return b"\n".join(folder.joinpath(name).read_bytes() for name in names)


_APPLY = load_script("apply_units.lua", "apply.lua")
_BEGIN_BUILD = load_script("begin_build.lua")
_FINISH_BUILD = load_script("apply_units.lua", "finish_build.lua")
_ABANDON_BUILD = load_script("apply_units.lua", "abandon_build.lua")
_TOP = load_script("names.lua", "top.lua")
_AROUND = load_script("names.lua", "around.lua")
_RANKS = load_script("names.lua", "ranks.lua")
_NAMES_LOAD = load_script("names_load.lua")
_NAMES_GET = load_script("names.lua", "names_get.lua")
_CATALOG_FILL = load_script("catalog_fill.lua")


@dataclass(frozen=True, slots=True)
class Unit:
    """One batch's contribution from one partition: offsets [from_offset, to_offset)."""

    partition: int
    from_offset: int
    to_offset: int
    # Per player: the value to combine, or for `last` and `earliest` boards (value, epoch
    # ms: of the latest event for `last` and `sum`, of the first with the value otherwise);
    # on a tournament board the player's whole score (score, at_ms or None), or None when
    # nothing of theirs counts.
    values: dict[str, int] | dict[str, tuple[int, int]] | dict[str, tuple[int, int | None] | None]


# How each aggregation writes to the set, per sort order (stored scores are negated for desc).
_OPS = {
    (Aggregation.SUM, SortOrder.DESC): "incr",
    (Aggregation.SUM, SortOrder.ASC): "incr",
    (Aggregation.MAX, SortOrder.DESC): "lt",
    (Aggregation.MAX, SortOrder.ASC): "gt",
    (Aggregation.MIN, SortOrder.DESC): "gt",
    (Aggregation.MIN, SortOrder.ASC): "lt",
    (Aggregation.LAST, SortOrder.DESC): "last",
    (Aggregation.LAST, SortOrder.ASC): "last",
}


def definition(board: Board) -> str:
    """What a cached set was computed for. The consumer sends its own view of the board with
    every batch, so a board edited in the admin is never fed by a stale definition."""
    ends = board.ends_at.isoformat() if board.ends_at else ""
    return (
        f"{board.metric}|{board.starts_at.isoformat()}|{ends}|"
        f"{board.aggregation}|{board.sort_order}|{board.tie_break}|"
        f"{board.join_required}|{board.max_attempts}"
    )


def _flatten(values: dict, sign: int, *, whole: bool = False) -> list:
    """A unit's values as the flat list the scripts read: member, value[, time]; `whole`
    scores (tournament boards) as exact strings, 'x' for none, time -1 for none."""
    flat: list = []
    if whole:
        for member, score in values.items():
            if score is None:
                flat += (member, "x", -1)
            else:
                flat += (member, str(score[0] * sign), -1 if score[1] is None else score[1])
        return flat
    for member, value in values.items():
        if isinstance(value, tuple):
            flat += (member, value[0] * sign, value[1])
        else:
            flat += (member, value * sign)
    return flat


def _sign(board: Board) -> int:
    return -1 if board.sort_order == SortOrder.DESC else 1


def _strip(board: Board) -> int:
    """The width of the reached time that begins the board's members (0: none)."""
    return REACHED_WIDTH if board.tie_break == TieBreak.EARLIEST else 0


def reached_member(at_ms: int, player_id: str) -> str:
    """An `earliest` board's member: when the score was reached, then who."""
    return f"{at_ms:0{REACHED_WIDTH}d}{player_id}"


def _score(stored: bytes | str | float, sign: int) -> int:
    return int(float(stored)) * sign


def spread_tags(count: int) -> list[str]:
    """`count` hash tags, the n-th hashing into the n-th of `count` equal runs of the
    cluster's slots: keys under them land on every node that owns a run of slots that long
    (nodes own ranges of slots)."""
    tags: dict[int, str] = {}
    n = 0
    while len(tags) < count:
        tag = f"c{n}"
        tags.setdefault(key_slot(tag.encode()) * count // REDIS_CLUSTER_HASH_SLOTS, tag)
        n += 1
    return [tags[run] for run in range(count)]


def _unreachable(reply: object) -> bool:
    """Whether a pipelined reply is a node's failure (down, loading, failing over, a slot
    moving) rather than the command's own error. redis-py's parser turns the error codes
    into these classes (and strips the code from the message)."""
    return isinstance(
        reply, (redis.ConnectionError, redis.TimeoutError, ClusterDownError, TryAgainError)
    )


def _redirected(reply: object) -> bool:
    """Whether a reply says the slot lives on another node now (a failover, a reshard):
    MOVED or ASK (redis-py's MovedError is an AskError)."""
    return isinstance(reply, AskError)


class BoardStore:
    """Redis-side operations on cached boards: apply, top, ranks, around, build, drop."""

    def __init__(self, client: redis.Redis | RedisCluster) -> None:
        self.redis = client
        self.cluster = isinstance(client, RedisCluster)
        self._cached_sets = (
            [f"{CACHED_SET}:{{{tag}}}" for tag in spread_tags(CACHED_COPIES)]
            if self.cluster
            else [CACHED_SET]
        )
        # On a single Redis the read scripts answer with the names; on a cluster they
        # cannot reach the names hash's slot (names_get.lua, a second call).
        self._names_key = [] if self.cluster else [NAMES]
        self._names_get = client.register_script(_NAMES_GET)
        self._apply = client.register_script(_APPLY)
        self._begin = client.register_script(_BEGIN_BUILD)
        self._finish = client.register_script(_FINISH_BUILD)
        self._abandon = client.register_script(_ABANDON_BUILD)
        self._top = client.register_script(_TOP)
        self._around = client.register_script(_AROUND)
        self._ranks = client.register_script(_RANKS)
        self._names_load = client.register_script(_NAMES_LOAD)
        self._local = threading.local()  # each thread's read connections (see _read)
        self._catalog_fill = client.register_script(_CATALOG_FILL)

    # -- nodes ----------------------------------------------------------------------------

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
                if _redirected(reply):
                    moved.append(i)
        if moved and retry:
            self._topology_changed()
            self._pipelined_by_node(calls, moved, results, retry=False)

    # -- writes ---------------------------------------------------------------------------

    def cached_board_ids(self) -> set[int]:
        """The cached boards: on a cluster, those any copy of the set that answers names
        (raising only when none answers)."""
        replies = self._pipelined(
            [(key, lambda pipe, key=key: pipe.smembers(key)) for key in self._cached_sets]
        )
        answered = [reply for reply in replies if not isinstance(reply, Exception)]
        if not answered:
            raise replies[0]
        return {int(member) for members in answered for member in members}

    def _cached_add(self, board_id: int) -> None:
        """Note the board in the cached set."""
        self._cached_write("sadd", board_id)

    def _cached_remove(self, *board_ids: int) -> None:
        """Take boards out of the cached set. A copy that did not answer keeps them:
        harmless, a board listed but not cached is `absent` to the consumer."""
        self._cached_write("srem", *board_ids)

    def _cached_write(self, command: str, *board_ids: int) -> None:
        """SADD or SREM the boards in every copy of the cached set that answers; raises
        when none does."""
        replies = self._pipelined(
            [
                (key, lambda pipe, key=key: getattr(pipe, command)(key, *board_ids))
                for key in self._cached_sets
            ]
        )
        if all(isinstance(reply, Exception) for reply in replies):
            raise replies[0]

    def apply(self, boards_units: Iterable[tuple[Board, Sequence[Unit]]]) -> dict[int, str]:
        """Apply one consumer batch to the cached boards it touches, one script per board,
        pipelined into one round trip per Redis node. Returns each board's outcome
        (applied, queued, absent, stale: a gap froze it, frozen: stale already, redefined:
        the board was built for another definition than the caller's, or on a cluster
        unreachable: its node failed, and the board misses the batch, which its fences
        notice once the node is back)."""
        calls = []
        board_ids = []
        for board, units in boards_units:
            sign, whole = _sign(board), board.is_tournament
            payload = json.dumps(
                {
                    "op": "set" if whole else _OPS[(board.aggregation, board.sort_order)],
                    "earliest": board.tie_break == TieBreak.EARLIEST,
                    "units": [
                        [
                            unit.partition,
                            unit.from_offset,
                            unit.to_offset,
                            _flatten(unit.values, sign, whole=whole),
                        ]
                        for unit in units
                    ],
                },
                separators=(",", ":"),
            )
            keys = BoardKeys.of(board.pk)
            script_keys = [keys.meta, keys.zset, keys.pending, keys.times]
            args = [payload, MAX_PENDING_BATCHES, definition(board)]
            calls.append(
                (
                    keys.meta,
                    lambda pipe, k=script_keys, a=args: self._apply(keys=k, args=a, client=pipe),
                )
            )
            board_ids.append(board.pk)
        results = {}
        for board_id, outcome in zip(board_ids, self._pipelined(calls), strict=True):
            if isinstance(outcome, Exception):
                # A redirect still there after the slot map was read again: a slot on the
                # move (ASK wants ASKING, which the store does not send), as good as down.
                if not (_unreachable(outcome) or _redirected(outcome)):
                    raise outcome
                results[board_id] = "unreachable"
            else:
                results[board_id] = outcome.decode()
        # A stale board stays in the cached set: it is still shown, and the sync rebuilds
        # or evicts it. One the script dropped (nothing to show) is absent next time.
        gone = [board_id for board_id, outcome in results.items() if outcome == "absent"]
        if gone:
            self._cached_remove(*gone)
        return results

    def begin_build(self, board: Board, token: str, *, force: bool = False) -> bool:
        """Mark the board as building (owned by `token`). False when another build runs, or
        the board is ready already and `force` is not set."""
        ttl_ms = settings.LEADERBOARD_BUILD_TIMEOUT_SECONDS * 1000
        started = self._begin(
            keys=BoardKeys.of(board.pk).all(),
            args=[token, ttl_ms, "1" if force else "0", definition(board)],
        )
        if started == 1:
            self._cached_add(board.pk)
            return True
        return False

    def load_build(self, board: Board, standings: Iterable[tuple[str, int, int | None]]) -> int:
        """Write a snapshot's (player, score, at_ms) rows into the board's build keys;
        at_ms (the time of a `last` score's event, or when an `earliest` score was reached)
        goes beside the set."""
        keys = BoardKeys.of(board.pk)
        build_key, build_times = keys.build, keys.build_times
        sign = _sign(board)
        earliest = board.tie_break == TieBreak.EARLIEST
        loaded = 0
        scores: dict[str, int] = {}
        times: dict[str, int] = {}

        # Build keys expire with the build timeout, so a build that dies mid-way leaves
        # nothing behind; finish_build.lua PERSISTs them as it swaps them in.
        ttl = settings.LEADERBOARD_BUILD_TIMEOUT_SECONDS * 1000

        def flush() -> None:
            pipe = self.redis.pipeline(transaction=False)
            pipe.zadd(build_key, scores)
            pipe.pexpire(build_key, ttl)
            if times:
                pipe.hset(build_times, mapping=times)
                pipe.pexpire(build_times, ttl)
            pipe.execute()

        for player_id, score, at_ms in standings:
            scores[reached_member(at_ms, player_id) if earliest else player_id] = score * sign
            if at_ms is not None:
                times[player_id] = at_ms
            if len(scores) >= BUILD_CHUNK:
                flush()
                loaded += len(scores)
                scores, times = {}, {}
        if scores:
            flush()
            loaded += len(scores)
        return loaded

    def finish_build(self, board: Board, token: str, fences: dict[int, int]) -> str:
        """Swap the build in, set its fences, replay what queued meanwhile. Returns
        ready, superseded (another build took over) or stale (frozen, still shown and
        still in the cached set, so the sync finds it)."""
        fences_json = (
            json.dumps({str(p): offset for p, offset in fences.items()}) if fences else "{}"
        )
        return self._finish(keys=BoardKeys.of(board.pk).all(), args=[token, fences_json]).decode()

    def abandon_build(self, board: Board, token: str) -> None:
        """Undo a failed build, unless another build has taken the board over. A board
        that served through the build keeps its set (abandon_build.lua)."""
        if self._abandon(keys=BoardKeys.of(board.pk).all(), args=[token]) == 1:
            self._cached_remove(board.pk)

    def drop(self, board_id: int) -> None:
        self.redis.delete(*BoardKeys.of(board_id).all())
        self._cached_remove(board_id)

    # -- reads (None means: not cached, ask PostgreSQL) -------------------------------------

    def _read(self, script: Script, keys: list[str], args: list):
        """Run a read script on a connection this thread keeps to itself (one per node on a
        cluster, to the node that owns the keys' slot), checked out of the node's pool on
        the thread's first read and given back when the thread ends (_ThreadConnections).
        redis-py's command path (a pool checkout that polls the socket, the retry wrapper,
        the script's own NOSCRIPT handling) cost a quarter of a read's round trip (32 of
        140 us). As there: a script Redis forgot (a restart) is loaded again, a connection
        found closed (an idle timeout, a restart) is opened again once, a slot that moved
        (a failover) is followed once, and any other error drops the connection and goes
        to the caller. A forked child opens its own (sharing the parent's socket would mix
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
                if not (self.cluster and _redirected(exc) and attempt == 1):
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
            connections = self._local.connections = _ThreadConnections()
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

    def size(self, board: Board) -> int:
        """Players in the board's cached set (0 when it is not cached)."""
        return self.redis.zcard(BoardKeys.of(board.pk).zset)

    def state(self, board: Board) -> str | None:
        state = self.redis.hget(BoardKeys.of(board.pk).meta, "state")
        return state.decode() if state else None

    def fences(self, board: Board) -> dict[int, int]:
        """The board's fences: per Kafka partition, the next offset its set does not hold."""
        meta = self.redis.hgetall(BoardKeys.of(board.pk).meta)
        return {
            int(field[2:]): int(value) for field, value in meta.items() if field.startswith(b"p:")
        }

    def drift_cursor(self) -> int:
        """The id of the last board the drift check compared (0: none yet)."""
        return int(self.redis.get(DRIFT_CURSOR) or 0)

    def drift_cursor_set(self, board_id: int) -> None:
        self.redis.set(DRIFT_CURSOR, board_id)

    def top(self, board: Board, offset: int, limit: int) -> Page | None:
        keys = BoardKeys.of(board.pk)
        reply = self._read(
            self._top,
            [keys.meta, keys.zset, *self._names_key],
            [offset, offset + limit - 1, _strip(board)],
        )
        if reply is None:
            return None
        total, better, rows, names, stale = reply
        standings = _ranked(board, rows, offset, better)
        if self.cluster:
            names = self._names_of([s.player_id for s in standings])
        return Page(
            count=total, standings=standings, names=_names(standings, names), stale=bool(stale)
        )

    def around(self, board: Board, player_id: str, n: int) -> Page | None:
        """The player and up to n neighbours each side; an empty page if the player is absent."""
        keys = BoardKeys.of(board.pk)
        reply = self._read(
            self._around,
            [keys.meta, keys.zset, keys.times, *self._names_key],
            [player_id, n, _strip(board)],
        )
        if reply is None:
            return None
        total, start, better, rows, names, stale = reply
        if start < 0:
            return Page(count=total, standings=[], names={}, stale=bool(stale))
        standings = _ranked(board, rows, start, better)
        if self.cluster:
            names = self._names_of([s.player_id for s in standings])
        return Page(
            count=total, standings=standings, names=_names(standings, names), stale=bool(stale)
        )

    def ranks(self, board: Board, player_ids: Sequence[str]) -> Page | None:
        """The standings of those of the players that have a score, best first."""
        keys = BoardKeys.of(board.pk)
        script_keys = [keys.meta, keys.zset, keys.times, *self._names_key]
        args = [_strip(board), *player_ids]
        if self.cluster:
            reply, asked = self._read_and_names(self._ranks, script_keys, args, list(player_ids))
        else:
            reply = self._read(self._ranks, script_keys, args)
        if reply is None:
            return None
        total, found, names, stale = reply
        sign = _sign(board)
        members = [member.decode() for member in found[::3]]
        if self.cluster:
            by_player = None if asked is None else dict(zip(player_ids, asked, strict=True))
            names = None if by_player is None else [by_player[m] for m in members]
        standings = sorted(
            (
                Standing(rank=int(ahead) + 1, player_id=member, score=_score(score, sign))
                for member, score, ahead in zip(members, found[1::3], found[2::3], strict=True)
            ),
            key=lambda s: (s.rank, s.player_id.encode()),
        )
        named = None
        if names is not None:
            named = {m: name.decode() for m, name in zip(members, names, strict=True) if name}
        return Page(count=total, standings=standings, names=named, stale=bool(stale))

    def _read_and_names(self, script: Script, keys: list[str], args: list, player_ids: list[str]):
        """On a cluster, a read script and the names of players known before it runs (a
        ranks read), sent together: both nodes work at once, and the names cost no round
        trip of their own. Anything amiss (a script to load, a connection to open again, a
        dead node) and the two go one after the other through _read, which sees to it."""
        try:
            where = self.node_name(NAMES)
            if redis_unavailable(where):
                raise redis.ConnectionError(f"names node {where} backs off")
            board_connection, names_connection = self._connection(keys[0]), self._connection(NAMES)
        except redis.ConnectionError:
            return self._read(script, keys, args), self._names_of(player_ids)
        try:
            board_connection.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
            names_connection.send_command("EVALSHA", self._names_get.sha, 1, NAMES, *player_ids)
            return board_connection.read_response(), names_connection.read_response()
        except redis.RedisError:
            board_connection.disconnect()  # a reply may be left unread on either
            names_connection.disconnect()
            return self._read(script, keys, args), self._names_of(player_ids)

    def _names_of(self, player_ids: list[str]) -> list | None:
        """On a cluster, the players' names from the names hash's node: a second round trip
        (one per read; a copy of the names beside every board would cost a write to each
        board a renamed player is on). None, so that PostgreSQL names them, when the hash
        is not loaded or its node is down."""
        if not player_ids:
            return []
        where = self.node_name(NAMES)
        if redis_unavailable(where):
            return None
        try:
            return self._read(self._names_get, [NAMES], player_ids)
        except redis.RedisError as exc:
            redis_failed(where)
            logger.warning("redis names unavailable, naming players from PostgreSQL: %s", exc)
            return None

    # -- display names and the definitions catalog ---------------------------------------

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


def _names(standings: list[Standing], names: list | None) -> dict[str, str] | None:
    """The read scripts' names (one per standing, None for an unknown player) as a dict;
    None when the names hash is not loaded."""
    if names is None:
        return None
    return {s.player_id: name.decode() for s, name in zip(standings, names, strict=True) if name}


def _ranked(board: Board, rows: list, start: int, better_than_first: int) -> list[Standing]:
    """Standings for a run of ZRANGE ... WITHSCORES rows starting at place `start`."""
    sign, strip = _sign(board), _strip(board)
    pairs = ((rows[i][strip:].decode(), _score(rows[i + 1], sign)) for i in range(0, len(rows), 2))
    if strip:
        return ordinal_ranked(pairs, start=start)
    return competition_ranked(pairs, start=start, better_than_first=better_than_first)


class _ThreadConnections(dict):
    """One thread's read connections by node name ('' on a single Redis), each checked out
    of its node's pool on the thread's first read there. The thread-local holding this
    drops it when the thread ends (runserver ends one per request), and the finalizer
    checks them back in, to be reused by the next thread: never given back, they would
    count against the pool's max_connections until every read failed with "Too many
    connections" and went to PostgreSQL."""

    def __init__(self) -> None:
        super().__init__()
        self._checked_out: list[tuple[ConnectionPool, Connection]] = []
        weakref.finalize(self, _check_in, self._checked_out, os.getpid()).atexit = False

    def check_out(self, node_name: str, pool: ConnectionPool) -> Connection:
        connection = pool.get_connection()
        self._checked_out.append((pool, connection))
        self[node_name] = connection
        return connection


def _check_in(checked_out: list[tuple[ConnectionPool, Connection]], pid: int) -> None:
    """Give a thread's read connections back to their pools; not in a forked child, to
    which they do not belong (the pools there start empty)."""
    if os.getpid() != pid:
        return
    for pool, connection in checked_out:
        pool.release(connection)


_client: redis.Redis | RedisCluster | None = None

# After a Redis error, reads go straight to PostgreSQL for a few seconds instead of each
# waiting on a dead cache; on a cluster, per node, so the boards of the nodes that answer
# are still read from Redis.
REDIS_RETRY_AFTER_SECONDS = 5.0
_redis_down_until: dict[str, float] = {}


def redis_unavailable(node: str = "") -> bool:
    """Whether Redis (on a cluster: the node, BoardStore.node_name) failed less than
    REDIS_RETRY_AFTER_SECONDS ago."""
    return time.monotonic() < _redis_down_until.get(node, 0.0)


def redis_failed(node: str = "") -> None:
    """Note a Redis error: callers skip Redis (the node) for the next few seconds."""
    _redis_down_until[node] = time.monotonic() + REDIS_RETRY_AFTER_SECONDS


def _connect() -> redis.Redis | RedisCluster:
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


def get_store() -> BoardStore:
    """The process-wide store."""
    global _client, _store
    if _client is None:
        _client = _connect()
        _store = BoardStore(_client)
    return _store


_store: BoardStore | None = None


def reset_store() -> None:
    """Forget the client (tests point REDIS_URL elsewhere; forked workers need their own)."""
    global _client, _store
    _client = None
    _store = None
