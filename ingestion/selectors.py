"""Reads of what the consumer stored, and the ingestion dashboard's view of the pipeline:
events per minute, lag per partition, recent rejections and the state of the board cache."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from django.conf import settings
from django.db import connection
from django.utils import timezone

from config.kafka import client_config
from ingestion.models import RejectedEvent
from leaderboards.models import ConsumerOffset

logger = logging.getLogger(__name__)

# How long the dashboard waits for the broker before it shows "broker unreachable".
BROKER_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class MinuteCount:
    minute: datetime
    accepted: int
    rejected: int
    # How much of the minute has passed: 60, but less for the current one.
    seconds: float

    @property
    def accepted_per_second(self) -> float:
        return self.accepted / self.seconds

    @property
    def rejected_per_second(self) -> float:
        return self.rejected / self.seconds


_EVENTS_PER_MINUTE_SQL = """
WITH accepted AS (
    SELECT date_trunc('minute', ingested_at) AS minute, count(*) AS events
    FROM leaderboards_scoredelta
    WHERE ingested_at >= %(start)s AND ingested_at < %(end)s
    GROUP BY 1
), rejected AS (
    SELECT date_trunc('minute', received_at) AS minute, count(*) AS events
    FROM ingestion_rejectedevent
    WHERE received_at >= %(start)s AND received_at < %(end)s
    GROUP BY 1
)
SELECT m.minute, coalesce(a.events, 0), coalesce(r.events, 0)
FROM generate_series(
    %(start)s::timestamptz, %(end)s::timestamptz - interval '1 minute', interval '1 minute'
) AS m(minute)
LEFT JOIN accepted a ON a.minute = m.minute
LEFT JOIN rejected r ON r.minute = m.minute
ORDER BY m.minute
"""


def events_per_minute(*, minutes: int = 60, now: datetime | None = None) -> list[MinuteCount]:
    """Accepted events (by ingest time) and rejected ones per minute, oldest first, the
    current minute last; minutes without events count zero. One query."""
    now = now or timezone.now()
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes)
    with connection.cursor() as cursor:
        cursor.execute(_EVENTS_PER_MINUTE_SQL, {"start": start, "end": end})
        rows = cursor.fetchall()
    current = end - timedelta(minutes=1)
    elapsed = max((now - current).total_seconds(), 1.0)
    return [
        MinuteCount(minute, accepted, rejected, elapsed if minute == current else 60.0)
        for minute, accepted, rejected in rows
    ]


def rejected_events_recent(*, limit: int = 20) -> list[RejectedEvent]:
    """The latest rejections, without their raw bytes."""
    return list(RejectedEvent.objects.defer("raw", "key").order_by("-received_at", "-id")[:limit])


@dataclass(frozen=True, slots=True)
class PartitionLag:
    partition: int
    stored_offset: int | None  # the next offset the consumer will store; None: never read
    high_watermark: int | None  # the broker's end of the partition; None: unknown
    low_watermark: int | None
    updated_at: datetime | None  # when the consumer last stored an offset here

    @property
    def lag(self) -> int | None:
        if self.high_watermark is None:
            return None
        start = self.stored_offset if self.stored_offset is not None else self.low_watermark
        return max(self.high_watermark - (start or 0), 0)


@dataclass(frozen=True, slots=True)
class LagReport:
    topic: str
    partitions: list[PartitionLag]
    broker_error: str | None  # why the broker's watermarks are missing

    @property
    def total(self) -> int | None:
        lags = [p.lag for p in self.partitions]
        if self.broker_error is not None or None in lags:
            return None
        return sum(lags)


def consumer_lag(*, topic: str | None = None, timeout: float = BROKER_TIMEOUT_SECONDS) -> LagReport:
    """How far the stored offsets (the truth about what was ingested) trail the broker,
    per partition. A broker that does not answer in time leaves the watermarks out."""
    topic = topic or settings.KAFKA_TOPIC
    stored = {row.partition: row for row in ConsumerOffset.objects.filter(topic=topic)}
    error = None
    try:
        watermarks = _watermarks(
            topic, {p: row.next_offset for p, row in stored.items()}, timeout=timeout
        )
    except KafkaException as exc:
        error = f"broker unreachable: {exc.args[0].str() if exc.args else exc}"
        watermarks = {}
    partitions = []
    for partition in sorted(stored.keys() | watermarks.keys()):
        row = stored.get(partition)
        low, high = watermarks.get(partition, (None, None))
        partitions.append(
            PartitionLag(
                partition=partition,
                stored_offset=row.next_offset if row else None,
                high_watermark=high,
                low_watermark=low,
                updated_at=row.updated_at if row else None,
            )
        )
    return LagReport(topic=topic, partitions=partitions, broker_error=error)


def _watermarks(
    topic: str, start_offsets: dict[int, int], *, timeout: float
) -> dict[int, tuple[int, int]]:
    """(low, high) watermark per partition of the topic, from a short-lived consumer's
    fetches. Asking for them directly (ListOffsets) would be cheaper, but Tansu, the
    embedded broker, answers it with too low an offset; a fetch response is right on every
    broker. The fetches start at the stored offsets, so they read little."""
    probe = Consumer(
        client_config(
            **{
                "group.id": f"{settings.KAFKA_CONSUMER_GROUP}-dashboard",
                "enable.auto.commit": False,
                "auto.offset.reset": "latest",
                "fetch.wait.max.ms": 10,
                "max.partition.fetch.bytes": 65_536,
                "queued.min.messages": 1,
                "log_level": 0,  # an unreachable broker is reported on the page, not in logs
            }
        )
    )
    try:
        deadline = time.monotonic() + timeout
        metadata = probe.list_topics(topic, timeout=timeout).topics[topic]
        if metadata.error is not None:  # no such topic (yet): nothing to trail
            return {}
        partitions = [
            TopicPartition(topic, p, start_offsets.get(p, OFFSET_BEGINNING))
            for p in sorted(metadata.partitions)
        ]
        probe.assign(partitions)
        found: dict[int, tuple[int, int]] = {}
        while len(found) < len(partitions) and time.monotonic() < deadline:
            probe.consume(num_messages=len(partitions), timeout=0.05)
            for tp in partitions:
                low, high = probe.get_watermark_offsets(tp, cached=True)
                if high >= 0:
                    found[tp.partition] = (max(low, 0), high)
        return found
    finally:
        probe.close()
