"""Writes of the ingestion room: consumer offsets and rejected events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection

_SAVE_OFFSETS_SQL = """
INSERT INTO ingestion_consumeroffset (topic, partition, next_offset, updated_at)
SELECT %s, * FROM unnest(%s::int[], %s::bigint[]), now()
ON CONFLICT (topic, partition)
DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = EXCLUDED.updated_at
"""

_STORE_REJECTED_SQL = """
INSERT INTO ingestion_rejectedevent (topic, partition, "offset", key, raw, reason, detail)
SELECT * FROM unnest(%s::text[], %s::int[], %s::bigint[], %s::bytea[], %s::bytea[],
                     %s::text[], %s::text[])
ON CONFLICT (topic, partition, "offset") DO NOTHING
"""


@dataclass(frozen=True, slots=True)
class RejectedMessage:
    topic: str
    partition: int | None
    offset: int | None
    key: bytes | None
    raw: bytes
    reason: str
    detail: str


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


def rejected_events_store(*, rejected: Sequence[RejectedMessage]) -> None:
    """Keep rejected messages with their reasons, in one statement."""
    if not rejected:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _STORE_REJECTED_SQL,
            [
                [r.topic for r in rejected],
                [r.partition for r in rejected],
                [r.offset for r in rejected],
                [r.key for r in rejected],
                [r.raw for r in rejected],
                [r.reason for r in rejected],
                [r.detail for r in rejected],
            ],
        )
