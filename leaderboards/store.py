"""The Redis leaderboard store: one sorted set per cached board.

Key names and Lua scripts live here and nowhere else. Every key of a board carries the
hash tag `{lb:<id>}`, so a board and its bookkeeping share one Redis Cluster slot and each
script touches a single slot.

Per board:

- `lb:{<id>}:z`       the sorted set; members are player external ids.
- `lb:{<id>}:meta`    hash: `state` (building|ready), `token` of the build that owns it, and
                      one fence per Kafka partition, `p:<n>` = the next offset of partition n
                      that the set does not yet contain.
- `lb:{<id>}:pending` batches that arrived while the board was being built.
- `lb:{<id>}:build`   the set under construction.

And `lb:cached`, the set of board ids that are cached (the seed design's leaderboardSync).

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
Ties then fall in member (external id) byte order, the tie order PostgreSQL uses too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import redis
from django.conf import settings

from leaderboards.models import Aggregation, Board, SortOrder

CACHED_SET = "lb:cached"
MAX_PENDING_BATCHES = 10_000
BUILD_CHUNK = 5_000


def _keys(board_id: int) -> tuple[str, str, str, str, str, str]:
    """meta, zset, pending, build, times, build times: every key of one board."""
    tag = f"lb:{{{board_id}}}"
    return (
        f"{tag}:meta",
        f"{tag}:z",
        f"{tag}:pending",
        f"{tag}:build",
        f"{tag}:t",
        f"{tag}:build-t",
    )


# Applies a JSON batch {op, units} to a ready board; returns 1, or 0 when a unit does not
# line up with the board's fences (the board is stale).
_APPLY_UNITS = """
local function apply_units(meta, zset, times, payload)
  local batch = cjson.decode(payload)
  local op = batch.op
  for _, unit in ipairs(batch.units) do
    local field = 'p:' .. unit[1]
    local fence = tonumber(redis.call('HGET', meta, field) or '-1')
    local from, to = tonumber(unit[2]), tonumber(unit[3])
    if to <= fence then
      -- the snapshot already holds these offsets
    elseif from == fence then
      local values = unit[4]
      if op == 'last' then
        -- {member, value, event time ms}: a later (or equally timed, later arriving)
        -- event replaces the score
        for i = 1, #values, 3 do
          local seen = tonumber(redis.call('HGET', times, values[i]) or '-1e18')
          if values[i + 2] >= seen then
            redis.call('ZADD', zset, values[i + 1], values[i])
            redis.call('HSET', times, values[i], values[i + 2])
          end
        end
      end
      for i = 1, (op == 'last') and 0 or #values, 2 do
        if op == 'incr' then
          redis.call('ZINCRBY', zset, values[i + 1], values[i])
        elseif op == 'gt' then
          redis.call('ZADD', zset, 'GT', values[i + 1], values[i])
        else
          redis.call('ZADD', zset, 'LT', values[i + 1], values[i])
        end
      end
      redis.call('HSET', meta, field, to)
    else
      return 0
    end
  end
  return 1
end
"""

# KEYS meta zset pending times; ARGV payload max_pending definition
_APPLY = (
    _APPLY_UNITS
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'absent' end
if redis.call('HGET', KEYS[1], 'def') ~= ARGV[3] then return 'redefined' end
if state == 'building' then
  if redis.call('RPUSH', KEYS[3], ARGV[1]) > tonumber(ARGV[2]) then
    redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
    return 'stale'
  end
  redis.call('PEXPIRE', KEYS[3], redis.call('PTTL', KEYS[1]))
  return 'queued'
end
if apply_units(KEYS[1], KEYS[2], KEYS[4], ARGV[1]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
  return 'stale'
end
return 'applied'
"""
)

# KEYS meta zset pending build times build_times; ARGV token ttl_ms force definition
_BEGIN_BUILD = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'building' then return 0 end
if state == 'ready' and ARGV[3] ~= '1' then return -1 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
redis.call('HSET', KEYS[1], 'state', 'building', 'token', ARGV[1], 'def', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS meta zset pending build times build_times; ARGV token fences_json
_FINISH_BUILD = (
    _APPLY_UNITS
    + """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1]
   or redis.call('HGET', KEYS[1], 'state') ~= 'building' then
  redis.call('DEL', KEYS[4], KEYS[6])
  return 'superseded'
end
for i, target in ipairs({KEYS[2], KEYS[5]}) do
  local built = ({KEYS[4], KEYS[6]})[i]
  if redis.call('EXISTS', built) == 1 then
    redis.call('RENAME', built, target)
  else
    redis.call('DEL', target)
  end
end
redis.call('HSET', KEYS[1], 'state', 'ready')
for partition, offset in pairs(cjson.decode(ARGV[2])) do
  redis.call('HSET', KEYS[1], 'p:' .. partition, offset)
end
redis.call('PERSIST', KEYS[1])
for _, payload in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
  if apply_units(KEYS[1], KEYS[2], KEYS[5], payload) == 0 then
    redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[5])
    return 'stale'
  end
end
redis.call('DEL', KEYS[3])
return 'ready'
"""
)

# KEYS (all of a board's); ARGV token
_ABANDON_BUILD = """
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  redis.call('DEL', unpack(KEYS))
  return 1
end
return 0
"""

# KEYS meta zset; ARGV start stop -> false | {total, better_than_first, rows}
_TOP = """
if redis.call('HGET', KEYS[1], 'state') ~= 'ready' then return false end
local rows = redis.call('ZRANGE', KEYS[2], ARGV[1], ARGV[2], 'WITHSCORES')
local better = 0
if #rows > 0 then better = redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. rows[2]) end
return {redis.call('ZCARD', KEYS[2]), better, rows}
"""

# KEYS meta zset; ARGV member n -> false | {total, start, better_than_first, rows}
_AROUND = """
if redis.call('HGET', KEYS[1], 'state') ~= 'ready' then return false end
local total = redis.call('ZCARD', KEYS[2])
local index = redis.call('ZRANK', KEYS[2], ARGV[1])
if not index then return {total, -1, 0, {}} end
local n = tonumber(ARGV[2])
local start = math.max(0, index - n)
local rows = redis.call('ZRANGE', KEYS[2], start, index + n, 'WITHSCORES')
local better = redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. rows[2])
return {total, start, better, rows}
"""

# KEYS meta zset; ARGV members... -> false | {member, score, better, ...} for members present
_RANKS = """
if redis.call('HGET', KEYS[1], 'state') ~= 'ready' then return false end
local out = {}
for _, member in ipairs(ARGV) do
  local score = redis.call('ZSCORE', KEYS[2], member)
  if score then
    out[#out + 1] = member
    out[#out + 1] = score
    out[#out + 1] = redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. score)
  end
end
return out
"""


@dataclass(frozen=True, slots=True)
class Standing:
    rank: int
    player_id: str
    score: int


@dataclass(frozen=True, slots=True)
class Page:
    count: int
    standings: list[Standing]


@dataclass(frozen=True, slots=True)
class Unit:
    """One batch's contribution from one partition: offsets [from_offset, to_offset)."""

    partition: int
    from_offset: int
    to_offset: int
    # Per player: the value to combine, or for `last` (value, event time in epoch ms).
    values: dict[str, int] | dict[str, tuple[int, int]]


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
        f"{board.aggregation}|{board.sort_order}"
    )


def _flatten(values: dict, sign: int) -> list:
    """A unit's values as the flat list the scripts read: member, value[, time]."""
    flat: list = []
    for member, value in values.items():
        if isinstance(value, tuple):
            flat += (member, value[0] * sign, value[1])
        else:
            flat += (member, value * sign)
    return flat


def _sign(board: Board) -> int:
    return -1 if board.sort_order == SortOrder.DESC else 1


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
            sign = _sign(board)
            payload = json.dumps(
                {
                    "op": _OPS[(board.aggregation, board.sort_order)],
                    "units": [
                        [
                            unit.partition,
                            unit.from_offset,
                            unit.to_offset,
                            _flatten(unit.values, sign),
                        ]
                        for unit in units
                    ],
                },
                separators=(",", ":"),
            )
            meta, zset, pending, _build, times, _build_times = _keys(board.pk)
            self._apply(
                keys=[meta, zset, pending, times],
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
            keys=_keys(board.pk), args=[token, ttl_ms, "1" if force else "0", definition(board)]
        )
        if started == 1:
            self.redis.sadd(CACHED_SET, board.pk)
            return True
        return False

    def load_build(self, board: Board, standings: Iterable[tuple[str, int, int | None]]) -> int:
        """Write a snapshot's (player, score, last_ms) rows into the board's build keys;
        last_ms (the time of a `last` score's event) goes beside the set."""
        keys = _keys(board.pk)
        build_key, build_times = keys[3], keys[5]
        sign = _sign(board)
        loaded = 0
        scores: dict[str, int] = {}
        times: dict[str, int] = {}

        def flush() -> None:
            pipe = self.redis.pipeline(transaction=False)
            pipe.zadd(build_key, scores)
            if times:
                pipe.hset(build_times, mapping=times)
            pipe.execute()

        for player_id, score, last_ms in standings:
            scores[player_id] = score * sign
            if last_ms is not None:
                times[player_id] = last_ms
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
        outcome = self._finish(keys=_keys(board.pk), args=[token, fences_json]).decode()
        if outcome == "stale":
            self.redis.srem(CACHED_SET, board.pk)
        return outcome

    def abandon_build(self, board: Board, token: str) -> None:
        """Undo a failed build, unless another build has taken the board over."""
        if self._abandon(keys=_keys(board.pk), args=[token]):
            self.redis.srem(CACHED_SET, board.pk)

    def drop(self, board_id: int) -> None:
        self.redis.delete(*_keys(board_id))
        self.redis.srem(CACHED_SET, board_id)

    # -- reads (None means: not cached, ask PostgreSQL) -------------------------------------

    def size(self, board: Board) -> int:
        """Players in the board's cached set (0 when it is not cached)."""
        return self.redis.zcard(_keys(board.pk)[1])

    def state(self, board: Board) -> str | None:
        state = self.redis.hget(_keys(board.pk)[0], "state")
        return state.decode() if state else None

    def top(self, board: Board, offset: int, limit: int) -> Page | None:
        meta, zset = _keys(board.pk)[:2]
        reply = self._top(keys=[meta, zset], args=[offset, offset + limit - 1])
        if reply is None:
            return None
        total, better, rows = reply
        return Page(count=total, standings=_ranked(rows, offset, better, _sign(board)))

    def around(self, board: Board, player_id: str, n: int) -> Page | None:
        """The player and up to n neighbours each side; an empty page if the player is absent."""
        meta, zset = _keys(board.pk)[:2]
        reply = self._around(keys=[meta, zset], args=[player_id, n])
        if reply is None:
            return None
        total, start, better, rows = reply
        if start < 0:
            return Page(count=total, standings=[])
        return Page(count=total, standings=_ranked(rows, start, better, _sign(board)))

    def ranks(self, board: Board, player_ids: Sequence[str]) -> dict[str, Standing] | None:
        meta, zset = _keys(board.pk)[:2]
        if not player_ids:
            return {} if self.state(board) == "ready" else None
        reply = self._ranks(keys=[meta, zset], args=list(player_ids))
        if reply is None:
            return None
        sign = _sign(board)
        found = {}
        for i in range(0, len(reply), 3):
            member = reply[i].decode()
            found[member] = Standing(
                rank=int(reply[i + 2]) + 1, player_id=member, score=_score(reply[i + 1], sign)
            )
        return found


def _ranked(rows: list, start: int, better_than_first: int, sign: int) -> list[Standing]:
    """Competition ranks for a run of ZRANGE rows starting at position `start`."""
    standings = []
    previous = None
    rank = better_than_first + 1
    for i in range(0, len(rows), 2):
        stored = rows[i + 1]
        if previous is not None and stored != previous:
            rank = start + i // 2 + 1
        previous = stored
        standings.append(
            Standing(rank=rank, player_id=rows[i].decode(), score=_score(stored, sign))
        )
    return standings


_client: redis.Redis | None = None


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
