"""The store's writes: the cached set of boards, a consumer batch applied to every board it
touches, and builds (begin, load, finish, abandon) and drops."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import msgspec
from django.conf import settings
from redis.commands.core import Script

from leaderboards.cache.store.encoding import (
    Unit,
    flatten,
    reached_member,
    redis_op,
    score_sign,
)
from leaderboards.cache.store.keys import BoardKeys, definition
from leaderboards.cache.store.routing import Router, redirected, unreachable
from leaderboards.models import Board, TieBreak

# The apply payload, compact JSON (a tenth of json.dumps's time for a batch's thousands of
# members; cjson reads UTF-8 as readily as \u escapes).
_encode = msgspec.json.Encoder().encode

MAX_PENDING_BATCHES = 10_000
BUILD_CHUNK = 5_000


class BoardWrites(Router):
    """Writes of cached boards (apply.lua and the build scripts)."""

    # Set by BoardStore: the keys of the cached set's copies, and the scripts.
    _cached_sets: list[str]
    _apply: Script
    _begin: Script
    _finish: Script
    _abandon: Script

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
            sign, whole = score_sign(board), board.is_tournament
            payload = _encode(
                {
                    "op": "set" if whole else redis_op(board),
                    "earliest": board.tie_break == TieBreak.EARLIEST,
                    "units": [
                        [
                            unit.partition,
                            unit.from_offset,
                            unit.to_offset,
                            flatten(unit.values, sign, whole=whole),
                        ]
                        for unit in units
                    ],
                }
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
                if not (unreachable(outcome) or redirected(outcome)):
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
        sign = score_sign(board)
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
