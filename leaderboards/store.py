"""The Redis leaderboard store: one sorted set per cached board.

Key names live here and nowhere else; the Lua scripts are the files of leaderboards/lua/,
each saying what it takes and returns. Every key of a board carries the
hash tag `{lb:<id>}`, so a board and its bookkeeping share one Redis Cluster slot and each
script touches a single slot.

Per board:

- `lb:{<id>}:z`       the sorted set; members are player external ids.
- `lb:{<id>}:meta`    hash: `state` (building|ready), `token` of the build that owns it, and
                      one fence per Kafka partition, `p:<n>` = the next offset of partition n
                      that the set does not yet contain.
- `lb:{<id>}:pending` batches that arrived while the board was being built.
- `lb:{<id>}:build`   the set under construction.
- `lb:{<id>}:t`       for `last` boards, each player's event time (epoch ms); for
                      `earliest` boards, when each player's score was reached;
  `lb:{<id>}:build-t` the same under construction.

And beside the boards:

- `lb:cached`         the set of board ids that are cached.
- `lb:names`          hash: player external id -> display name ('' for none), which the read
                      scripts answer with; its field '' marks it loaded (cache.py fills it).
- `lb:catalog:<fp>`   hash: `board:<slug>` / `series:<slug>` -> the pickled definition, so
                      reads need no PostgreSQL (leaderboards/catalog.py); `<fp>` is a
                      fingerprint of the models' fields, so a deploy that changes them starts
                      a fresh catalog. `lb:catalog:<fp>:version` counts its invalidations.

Why fences: a build reads PostgreSQL while the consumer keeps committing. The snapshot is
taken together with the consumer offsets it covers (they are written in the same
transaction as the deltas), and the consumer sends each batch as per-partition units
`[partition, from_offset, to_offset, values]`. A unit whose range the snapshot already
covers is skipped, one that starts exactly at the fence is applied and moves it, and any
other (a gap, say after Redis lost a write) marks the board stale: it is dropped and built
again from PostgreSQL. Batches that arrive during a build are queued and replayed through
the same check when the build finishes, all inside Lua scripts, so nothing is lost or
counted twice.

Scores are stored so that ascending Redis order is board order: negated for `desc` boards.
Ties then fall in member byte order. A member is the player's external id, the tie order
PostgreSQL uses too; on an `earliest` board it is the time the score was reached (epoch
ms, REACHED_WIDTH digits) followed by the external id, so equal scores fall in the order
they were reached, and ranks are places (ZRANK + 1).
"""

from __future__ import annotations

import importlib.resources
import json
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import redis
from django.conf import settings
from redis.commands.core import Script

from leaderboards.models import Aggregation, Board, SortOrder, TieBreak
from leaderboards.ranking import Page, Standing, competition_ranked, ordinal_ranked

CACHED_SET = "lb:cached"
NAMES = "lb:names"
NAMES_LOADED = ""  # the names hash's field that says it is loaded (no player id is empty)
CATALOG = "lb:catalog"
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
    """The Lua source of leaderboards/lua/<name>..., joined (a library such as
    apply_units.lua goes first)."""
    folder = importlib.resources.files("leaderboards").joinpath("lua")
    return b"\n".join(folder.joinpath(name).read_bytes() for name in names)


_APPLY = load_script("apply_units.lua", "apply.lua")
_BEGIN_BUILD = load_script("begin_build.lua")
_FINISH_BUILD = load_script("apply_units.lua", "finish_build.lua")
_ABANDON_BUILD = load_script("abandon_build.lua")
_TOP = load_script("names.lua", "top.lua")
_AROUND = load_script("names.lua", "around.lua")
_RANKS = load_script("names.lua", "ranks.lua")
_NAMES_LOAD = load_script("names_load.lua")
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


class BoardStore:
    """Redis-side operations on cached boards: apply, top, ranks, around, build, drop."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._apply = client.register_script(_APPLY)
        self._begin = client.register_script(_BEGIN_BUILD)
        self._finish = client.register_script(_FINISH_BUILD)
        self._abandon = client.register_script(_ABANDON_BUILD)
        self._top = client.register_script(_TOP)
        self._around = client.register_script(_AROUND)
        self._ranks = client.register_script(_RANKS)
        self._names_load = client.register_script(_NAMES_LOAD)
        self._local = threading.local()  # each thread's read connection (see _read)
        self._catalog_fill = client.register_script(_CATALOG_FILL)

    # -- writes ---------------------------------------------------------------------------

    def cached_board_ids(self) -> set[int]:
        return {int(member) for member in self.redis.smembers(CACHED_SET)}

    def apply(self, boards_units: Iterable[tuple[Board, Sequence[Unit]]]) -> dict[int, str]:
        """Apply one consumer batch to the cached boards it touches, one script per board,
        pipelined into one round trip. Returns each board's outcome
        (applied, queued, absent, stale, or redefined: the board was built for another
        definition than the caller's)."""
        pipe = self.redis.pipeline(transaction=False)
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
            self._apply(
                keys=[keys.meta, keys.zset, keys.pending, keys.times],
                args=[payload, MAX_PENDING_BATCHES, definition(board)],
                client=pipe,
            )
            board_ids.append(board.pk)
        outcomes = pipe.execute() if board_ids else []
        results = {
            board_id: outcome.decode()
            for board_id, outcome in zip(board_ids, outcomes, strict=True)
        }
        gone = [board_id for board_id, outcome in results.items() if outcome in ("absent", "stale")]
        if gone:
            self.redis.srem(CACHED_SET, *gone)
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
            self.redis.sadd(CACHED_SET, board.pk)
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

        def flush() -> None:
            pipe = self.redis.pipeline(transaction=False)
            pipe.zadd(build_key, scores)
            if times:
                pipe.hset(build_times, mapping=times)
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
        if loaded:
            ttl = settings.LEADERBOARD_BUILD_TIMEOUT_SECONDS * 1000
            self.redis.pexpire(build_key, ttl)
            self.redis.pexpire(build_times, ttl)
        return loaded

    def finish_build(self, board: Board, token: str, fences: dict[int, int]) -> str:
        """Swap the build in, set its fences, replay what queued meanwhile. Returns
        ready, superseded (another build took over) or stale."""
        fences_json = (
            json.dumps({str(p): offset for p, offset in fences.items()}) if fences else "{}"
        )
        outcome = self._finish(
            keys=BoardKeys.of(board.pk).all(), args=[token, fences_json]
        ).decode()
        if outcome == "stale":
            self.redis.srem(CACHED_SET, board.pk)
        return outcome

    def abandon_build(self, board: Board, token: str) -> None:
        """Undo a failed build, unless another build has taken the board over."""
        if self._abandon(keys=BoardKeys.of(board.pk).all(), args=[token]):
            self.redis.srem(CACHED_SET, board.pk)

    def drop(self, board_id: int) -> None:
        self.redis.delete(*BoardKeys.of(board_id).all())
        self.redis.srem(CACHED_SET, board_id)

    # -- reads (None means: not cached, ask PostgreSQL) -------------------------------------

    def _read(self, script: Script, keys: list[str], args: list):
        """Run a read script on a connection this thread keeps to itself. redis-py's command
        path (a pool checkout that polls the socket, the retry wrapper, the script's own
        NOSCRIPT handling) cost a quarter of a read's round trip (32 of 140 us). As there: a
        script Redis forgot (a restart) is loaded again, a connection found closed (an idle
        timeout, a restart) is opened again once, and any other error drops the connection
        and goes to the caller. A forked child opens its own (sharing the parent's socket
        would mix the two processes' replies)."""
        connection = getattr(self._local, "connection", None)
        if connection is None or self._local.pid != os.getpid():  # none yet, or forked
            connection = self._local.connection = self.redis.connection_pool.make_connection()
            self._local.pid = os.getpid()
        for attempt in (1, 2):
            try:
                connection.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
                return connection.read_response()
            except redis.exceptions.NoScriptError:
                script.sha = self.redis.script_load(script.script)
            except redis.ConnectionError:
                connection.disconnect()
                if attempt == 2:
                    raise
            except BaseException:
                connection.disconnect()
                raise
        connection.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
        return connection.read_response()

    def size(self, board: Board) -> int:
        """Players in the board's cached set (0 when it is not cached)."""
        return self.redis.zcard(BoardKeys.of(board.pk).zset)

    def state(self, board: Board) -> str | None:
        state = self.redis.hget(BoardKeys.of(board.pk).meta, "state")
        return state.decode() if state else None

    def top(self, board: Board, offset: int, limit: int) -> Page | None:
        keys = BoardKeys.of(board.pk)
        reply = self._read(
            self._top, [keys.meta, keys.zset, NAMES], [offset, offset + limit - 1, _strip(board)]
        )
        if reply is None:
            return None
        total, better, rows, names = reply
        standings = _ranked(board, rows, offset, better)
        return Page(count=total, standings=standings, names=_names(standings, names))

    def around(self, board: Board, player_id: str, n: int) -> Page | None:
        """The player and up to n neighbours each side; an empty page if the player is absent."""
        keys = BoardKeys.of(board.pk)
        reply = self._read(
            self._around, [keys.meta, keys.zset, NAMES, keys.times], [player_id, n, _strip(board)]
        )
        if reply is None:
            return None
        total, start, better, rows, names = reply
        if start < 0:
            return Page(count=total, standings=[], names={})
        standings = _ranked(board, rows, start, better)
        return Page(count=total, standings=standings, names=_names(standings, names))

    def ranks(self, board: Board, player_ids: Sequence[str]) -> Page | None:
        """The standings of those of the players that have a score, best first."""
        keys = BoardKeys.of(board.pk)
        reply = self._read(
            self._ranks, [keys.meta, keys.zset, NAMES, keys.times], [_strip(board), *player_ids]
        )
        if reply is None:
            return None
        total, found, names = reply
        sign = _sign(board)
        members = [member.decode() for member in found[::3]]
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
        return Page(count=total, standings=standings, names=named)

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


_client: redis.Redis | None = None

# After a Redis error, reads go straight to PostgreSQL for a few seconds instead of each
# waiting on a dead cache.
REDIS_RETRY_AFTER_SECONDS = 5.0
_redis_down_until = 0.0


def redis_unavailable() -> bool:
    """Whether Redis failed less than REDIS_RETRY_AFTER_SECONDS ago."""
    return time.monotonic() < _redis_down_until


def redis_failed() -> None:
    """Note a Redis error: callers skip Redis for the next few seconds."""
    global _redis_down_until
    _redis_down_until = time.monotonic() + REDIS_RETRY_AFTER_SECONDS


def get_store() -> BoardStore:
    """The process-wide store. Short timeouts: a slow or absent Redis must not hold up reads,
    which fall back to PostgreSQL."""
    global _client, _store
    if _client is None:
        _client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=2,
            socket_connect_timeout=1,
            health_check_interval=30,
        )
        _store = BoardStore(_client)
    return _store


_store: BoardStore | None = None


def reset_store() -> None:
    """Forget the client (tests point REDIS_URL elsewhere; forked workers need their own)."""
    global _client, _store
    _client = None
    _store = None
