"""The store's reads of cached boards: a page, a player's neighbours, players' ranks, and
the bookkeeping the sync reads (state, fences, the drift cursor). None means: not cached,
ask PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import redis
from redis.commands.core import Script

from leaderboards.cache.store.client import redis_failed, redis_unavailable
from leaderboards.cache.store.encoding import (
    member_prefix,
    names_by_player,
    ranked,
    score_of,
    score_sign,
)
from leaderboards.cache.store.keys import DRIFT_CURSOR, NAMES, BoardKeys
from leaderboards.cache.store.routing import Router
from leaderboards.models import Board
from leaderboards.ranking import Page, Standing

logger = logging.getLogger(__name__)


class BoardReads(Router):
    """Reads of cached boards (the read scripts: top.lua, around.lua, ranks.lua)."""

    # Set by BoardStore: the read scripts, and the names hash's key on a single Redis
    # (on a cluster the read scripts cannot reach its slot: names_get.lua, a second call).
    _top: Script
    _around: Script
    _ranks: Script
    _names_get: Script
    _names_key: list[str]

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
            [offset, offset + limit - 1, member_prefix(board)],
        )
        if reply is None:
            return None
        total, better, rows, names, stale = reply
        standings = ranked(board, rows, offset, better)
        if self.cluster:
            names = self._names_of([s.player_id for s in standings])
        return Page(
            count=total,
            standings=standings,
            names=names_by_player(standings, names),
            stale=bool(stale),
        )

    def around(self, board: Board, player_id: str, n: int) -> Page | None:
        """The player and up to n neighbours each side; an empty page if the player is absent."""
        keys = BoardKeys.of(board.pk)
        reply = self._read(
            self._around,
            [keys.meta, keys.zset, keys.times, *self._names_key],
            [player_id, n, member_prefix(board)],
        )
        if reply is None:
            return None
        total, start, better, rows, names, stale = reply
        if start < 0:
            return Page(count=total, standings=[], names={}, stale=bool(stale))
        standings = ranked(board, rows, start, better)
        if self.cluster:
            names = self._names_of([s.player_id for s in standings])
        return Page(
            count=total,
            standings=standings,
            names=names_by_player(standings, names),
            stale=bool(stale),
        )

    def ranks(self, board: Board, player_ids: Sequence[str]) -> Page | None:
        """The standings of those of the players that have a score, best first."""
        keys = BoardKeys.of(board.pk)
        script_keys = [keys.meta, keys.zset, keys.times, *self._names_key]
        args = [member_prefix(board), *player_ids]
        if self.cluster:
            reply, asked = self._read_and_names(self._ranks, script_keys, args, list(player_ids))
        else:
            reply = self._read(self._ranks, script_keys, args)
        if reply is None:
            return None
        total, found, names, stale = reply
        sign = score_sign(board)
        members = [member.decode() for member in found[::3]]
        if self.cluster:
            by_player = None if asked is None else dict(zip(player_ids, asked, strict=True))
            names = None if by_player is None else [by_player[m] for m in members]
        standings = sorted(
            (
                Standing(rank=int(ahead) + 1, player_id=member, score=score_of(score, sign))
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
