"""Leagues: a board with `bucket_size` N splits its players into buckets of at most N, in
the order they first score on it (bucket numbers from 1), each ranked on its own.

Assignment lives in PostgreSQL (BucketMember: a place per player, never changed), so it
survives cache loss and rebuilds and is the same whichever consumer saw a player first:

- the consumer, in the transaction that stores a batch, gives each player scoring on a live
  league board for the first time the next places, in the batch's order (created_at, then
  id); a per-board advisory lock serialises consumers, so places are dense and unique;
- a board saved with a bucket size (created, or given one later) places every player who
  scored on it already, in the order their first events were stored.

The two meet on one advisory lock: a batch holds it shared from before it reads the league
boards until its commit, a save holds it exclusively, so a board is either seen by a
batch or placed after the batch's commit, never missed by both.

A bucket's ranking is the board's ranking of its members: ranks of a list of players
(Redis, or PostgreSQL, or the frozen final standings once the board is finalised), ranked
again among themselves by the board's rules.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, transaction
from django.db.models import Max

from leaderboards.models import Board, BucketMember, TieBreak
from leaderboards.postgres.deltas import DeltaRow
from leaderboards.postgres.scores import window_conditions
from leaderboards.ranking import Standing, Window, competition_ranked, ordinal_ranked

# pg_advisory_xact_lock keys: one for "which boards are leagues", one space per board.
_LEAGUES_LOCK = 0x6C656167756573  # ASCII "leagues"
_BOARD_LOCK_SPACE = 0x6C656167  # "leag", with the board id as the second int4


def buckets_assign_batch(*, rows: Sequence[DeltaRow]) -> int:
    """Place the batch's new players on every live league board they score on (in the
    consumer's store transaction, after the insert). Returns how many were placed."""
    if not rows:
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [_LEAGUES_LOCK])
        cursor.execute(
            "SELECT id, metric, starts_at, ends_at FROM leaderboards_board"
            " WHERE bucket_size IS NOT NULL AND finalized_at IS NULL ORDER BY id"
        )
        boards = [Board(pk=pk, metric=m, starts_at=s, ends_at=e) for pk, m, s, e in cursor]
        if not boards:
            return 0
        in_order = sorted(rows, key=lambda r: (r.created_at, r.player_id.encode()))
        placed = 0
        for board in boards:
            firsts: dict[int, None] = {}  # the board's new players, in order
            for row in in_order:
                if board.covers(row.metric, row.created_at):
                    firsts.setdefault(row.player_pk)
            if firsts:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)", [_BOARD_LOCK_SPACE, board.pk]
                )
                cursor.execute(_PLACE_SQL, {"board": board.pk, "players": list(firsts)})
                placed += cursor.rowcount
    return placed


_PLACE_SQL = """
INSERT INTO leaderboards_bucketmember (board_id, player_id, position)
SELECT %(board)s, new.pk, base.n + row_number() OVER (ORDER BY new.ord)
  FROM unnest(%(players)s::bigint[]) WITH ORDINALITY AS new(pk, ord),
       (SELECT coalesce(max(position), 0) AS n FROM leaderboards_bucketmember
         WHERE board_id = %(board)s) base
 WHERE NOT EXISTS (SELECT FROM leaderboards_bucketmember m
                    WHERE m.board_id = %(board)s AND m.player_id = new.pk)
"""


def buckets_assign_existing(board: Board) -> int:
    """Place every player who scored on the league board and has no place yet, in the order
    their first events were stored (then event time, then id). Runs in the caller's
    transaction (a save of the board)."""
    conditions, params = window_conditions(Window.of_board(board))
    params["board"] = board.pk
    # A transaction (or a savepoint in the caller's) holds the locks until the places are in.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LEAGUES_LOCK])
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_BOARD_LOCK_SPACE, board.pk])
        cursor.execute(
            "INSERT INTO leaderboards_bucketmember (board_id, player_id, position)"
            " SELECT %(board)s, f.player_id, base.n + row_number() OVER"
            '  (ORDER BY f.first_stored, f.first_at, p.external_id COLLATE "C")'
            " FROM (SELECT d.player_id, min(d.ingested_at) AS first_stored,"
            "   min(d.created_at) AS first_at FROM leaderboards_scoredelta d"
            f"   WHERE {' AND '.join(conditions)} GROUP BY d.player_id) f"
            " JOIN players_player p ON p.id = f.player_id,"
            " (SELECT coalesce(max(position), 0) AS n FROM leaderboards_bucketmember"
            "   WHERE board_id = %(board)s) base"
            " WHERE NOT EXISTS (SELECT FROM leaderboards_bucketmember m"
            "   WHERE m.board_id = %(board)s AND m.player_id = f.player_id)",
            params,
        )
        return cursor.rowcount


def bucket_of(board: Board, player_id: str) -> int | None:
    """The player's bucket on the league board (from 1), or None without a place."""
    position = (
        BucketMember.objects.filter(board_id=board.pk, player__external_id=player_id)
        .values_list("position", flat=True)
        .first()
    )
    return None if position is None else (position - 1) // board.bucket_size + 1


def bucket_count(board: Board) -> int:
    """How many buckets the league board has (the last may not be full)."""
    last = BucketMember.objects.filter(board_id=board.pk).aggregate(n=Max("position"))["n"]
    return 0 if last is None else (last - 1) // board.bucket_size + 1


def bucket_members(board: Board, bucket: int) -> list[str]:
    """The external ids of the bucket's players, in the order they were placed."""
    size = board.bucket_size
    return list(
        BucketMember.objects.filter(
            board_id=board.pk,
            position__gt=(bucket - 1) * size,
            position__lte=bucket * size,
        )
        .order_by("position")
        .values_list("player__external_id", flat=True)
    )


def bucket_ranked(board: Board, standings: Sequence[Standing]) -> list[Standing]:
    """The board standings of one bucket's players (in board order) ranked among
    themselves: competition ranks, or places for the `earliest` tie-break."""
    rows = [(s.player_id, s.score) for s in standings]
    if board.tie_break == TieBreak.EARLIEST:
        return ordinal_ranked(rows, start=0)
    return competition_ranked(rows, start=0, better_than_first=0)
