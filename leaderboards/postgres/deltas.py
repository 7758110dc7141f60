"""The score delta log's writes and the consumer offsets stored with them.

The consumer stores each batch in one transaction: its new deltas (duplicates skipped by
the dedupe key), the late ones counted on finalised boards, and the next offset per
partition. Cache builds read those offsets in their snapshot (leaderboards/cache/builds.py), which
is why they live here, beside the deltas, and not with the consumer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import msgspec
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils.timezone import now as timezone_now

from config.staleness import consumer_boards_max_age
from leaderboards.models import Board, ConsumerOffset


class DeltaRow(msgspec.Struct, frozen=True, gc=False):
    """An accepted event on its way into the log; `partition` is where it came from, which
    the Redis fences need. (A Struct: one is made per event, at a tenth of a frozen
    dataclass's cost.)"""

    dedupe_key: uuid.UUID
    player_pk: int
    player_id: str
    metric: str
    delta: int
    created_at: datetime
    partition: int
    # Whether the key comes from an event_id. One made from player, metric and created_at
    # cannot recur at another created_at, so only these need the cross-partition check.
    by_event_id: bool = True


# Deltas arrive through COPY into a per-session staging table, then move into the log in
# one INSERT that skips known dedupe keys: COPY's binary rows cost a fraction of what
# adapting five parameter arrays does at 20,000 events a second.
_STAGE_DELTAS_SQL = """
CREATE TEMP TABLE IF NOT EXISTS delta_stage (
    dedupe_key uuid, player_id bigint, metric text, delta bigint, created_at timestamptz,
    by_event_id boolean
) ON COMMIT DELETE ROWS
"""
_COPY_DELTAS_SQL = "COPY delta_stage FROM STDIN (FORMAT BINARY)"
# The log is partitioned by week of created_at, so its primary key is (dedupe_key,
# created_at) and ON CONFLICT only sees a copy stamped at the same time. `seen` finds the
# batch's keys made from an event_id stored at any time: one index scan per partition for
# the whole array (a lateral probe per row costs more: docs/benchmarks.md), so its cost grows with
# the partitions. The staged keys are unique (the batch's own duplicates are dropped before
# COPY), and the statement answers with the keys it did not insert: usually none, where
# returning the inserted rows cost the consumer more than the insert (docs/benchmarks.md).
_INSERT_DELTAS_SQL = """
WITH seen AS (
    SELECT dedupe_key FROM leaderboards_scoredelta
     WHERE dedupe_key = ANY(ARRAY(SELECT dedupe_key FROM delta_stage WHERE by_event_id))
), inserted AS (
    INSERT INTO leaderboards_scoredelta (dedupe_key, player_id, metric, delta, created_at)
    SELECT dedupe_key, player_id, metric, delta, created_at
      FROM delta_stage
     WHERE dedupe_key NOT IN (SELECT dedupe_key FROM seen)
    ON CONFLICT (dedupe_key, created_at) DO NOTHING
    RETURNING dedupe_key
)
SELECT dedupe_key FROM delta_stage WHERE dedupe_key NOT IN (SELECT dedupe_key FROM inserted)
"""
_DELTA_TYPES = ["uuid", "int8", "text", "int8", "timestamptz", "bool"]
# pg_advisory_xact_lock(class, partition): one batch of a Kafka partition at a time. Every
# copy of an event is keyed by its player, so it comes through one partition: with this a
# batch never checks for a key while another batch, a zombie consumer's still holding the
# partition, has it uncommitted (the check above would miss it at another created_at).
_PARTITION_LOCK_CLASS = 0x64656C74  # "delt"


def deltas_insert_batch(*, rows: Sequence[DeltaRow]) -> list[DeltaRow]:
    """Insert a batch; returns the rows that were new (duplicates of stored events, or of
    each other, are skipped, whatever their created_at). Joins the caller's transaction
    when there is one (the staging table empties at commit, so COPY and INSERT must share
    one, and the partition locks are held until it ends)."""
    rows = _first_of_each_key(rows)
    if not rows:
        return []
    # The raw psycopg cursor (Django's has no COPY); errors still surface as Django's.
    with (
        transaction.atomic(),
        connection.wrap_database_errors,
        connection.connection.cursor() as cursor,
    ):
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, p) FROM unnest(%s::int[]) p ORDER BY p",
            [_PARTITION_LOCK_CLASS, sorted({row.partition for row in rows})],
        )
        cursor.execute(_STAGE_DELTAS_SQL)
        with cursor.copy(_COPY_DELTAS_SQL) as copy:
            copy.set_types(_DELTA_TYPES)
            write = copy.write_row
            for row in rows:
                write(
                    (
                        row.dedupe_key,
                        row.player_pk,
                        row.metric,
                        row.delta,
                        row.created_at,
                        row.by_event_id,
                    )
                )
        cursor.execute(_INSERT_DELTAS_SQL)
        skipped = {key for (key,) in cursor.fetchall()}
        cursor.execute("TRUNCATE delta_stage")
    return [row for row in rows if row.dedupe_key not in skipped] if skipped else rows


def _first_of_each_key(rows: Sequence[DeltaRow]) -> list[DeltaRow]:
    """The rows in order, each dedupe key once: the copy with the earliest created_at (the
    first of those on a tie), which is the one the log keeps."""
    rows = list(rows)
    first: dict[uuid.UUID, int] = {}
    for index, row in enumerate(rows):
        seen = first.setdefault(row.dedupe_key, index)
        if seen != index and row.created_at < rows[seen].created_at:
            first[row.dedupe_key] = index
    if len(first) == len(rows):
        return rows
    return [rows[index] for index in sorted(first.values())]


class BoardsReread:
    """Boards the consumer checks each batch against, read with `query` and re-read at most
    every LEADERBOARD_CONSUMER_BOARDS_MAX_AGE_MS."""

    def __init__(self, query: Callable[[], QuerySet[Board]]) -> None:
        self.query = query
        self._boards: list[Board] = []
        self._loaded_at: float | None = None

    def get(self) -> list[Board]:
        age = None if self._loaded_at is None else time.monotonic() - self._loaded_at
        if age is None or age > consumer_boards_max_age():
            self._boards = list(self.query())
            self._loaded_at = time.monotonic()
        return self._boards


# Windows of boards finalised in the last 30 days: new deltas are checked against them to
# count events that arrive too late.
_finalized = BoardsReread(
    lambda: (
        Board.objects.finalized()
        .filter(ends_at__gt=timezone_now() - timedelta(days=30))
        .only("pk", "metric", "starts_at", "ends_at")
    )
)


def deltas_count_late(*, rows: Sequence[DeltaRow]) -> int:
    """Count new deltas that fall in an already finalised window on those boards (in the
    caller's transaction); they are stored but change no final result. Returns the total."""
    late: dict[int, int] = {}
    for board in _finalized.get():
        count = sum(1 for row in rows if board.covers(row.metric, row.created_at))
        if count:
            late[board.pk] = count
    for board_id, count in late.items():
        Board.objects.filter(pk=board_id).update(late_events=F("late_events") + count)
    return sum(late.values())


_SAVE_OFFSETS_SQL = """
INSERT INTO leaderboards_consumeroffset (topic, partition, next_offset, updated_at)
SELECT %s, * FROM unnest(%s::int[], %s::bigint[]), now()
ON CONFLICT (topic, partition)
DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = EXCLUDED.updated_at
"""


def offsets_save(*, topic: str, next_offsets: dict[int, int]) -> None:
    """Record the next offset to read per partition. Runs in the caller's transaction, the
    one that stores the deltas those offsets cover."""
    if not next_offsets:
        return
    partitions = sorted(next_offsets)
    with connection.cursor() as cursor:
        cursor.execute(
            _SAVE_OFFSETS_SQL, [topic, partitions, [next_offsets[p] for p in partitions]]
        )


def offsets_for_topic(*, topic: str) -> dict[int, int]:
    """Next offset to read per partition, as stored with the deltas."""
    return dict(ConsumerOffset.objects.filter(topic=topic).values_list("partition", "next_offset"))
