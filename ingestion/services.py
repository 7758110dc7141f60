"""Writes of the ingestion room: rejected events (stored, pruned after their retention
period, and forgotten with an erased player), and events sent over HTTP into Kafka."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from confluent_kafka import KafkaException
from django.conf import settings
from django.db import connection
from django.utils import timezone

from config.exceptions import ServiceUnavailable
from ingestion import kafka
from players.erasure import tombstones_of

logger = logging.getLogger(__name__)

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
    # When the producer sent it (the broker's timestamp), and the player ids it names (its
    # key, the payload's player_id): what tells a replay of an erased player's message.
    sent_at: datetime | None = None
    player_ids: tuple[str, ...] = ()


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


def rejected_without_replays(*, rejected: Sequence[RejectedMessage]) -> list[RejectedMessage]:
    """The rejections that do not replay an erased player's messages: one naming an erased
    id and sent at or before its erasure (or at no known time) goes, neither stored nor
    rejected. In the caller's transaction, before the rejections are stored: the table's
    ROW EXCLUSIVE lock is taken before the tombstones are read, so an erasure, which
    deletes rejected events under a SHARE lock, either waits for this transaction and sees
    what it stores, or committed before and left a tombstone this reads."""
    ids = {player_id for message in rejected for player_id in message.player_ids}
    if not ids:
        return list(rejected)
    with connection.cursor() as cursor:
        cursor.execute("LOCK TABLE ingestion_rejectedevent IN ROW EXCLUSIVE MODE")
    erased = tombstones_of(ids)
    if not erased:
        return list(rejected)

    def replays(message: RejectedMessage) -> bool:
        sent = message.sent_at
        return any(
            player_id in erased and (sent is None or sent <= erased[player_id])
            for player_id in message.player_ids
        )

    return [message for message in rejected if not replays(message)]


_FORGET_REJECTED_SQL = """
DELETE FROM ingestion_rejectedevent
 WHERE key = ANY(%(keys)s::bytea[])
    OR EXISTS (SELECT FROM unnest(%(needles)s::bytea[]) n
                WHERE position(n IN raw) > 0 OR position(n IN coalesce(key, ''::bytea)) > 0)
    OR EXISTS (SELECT FROM unnest(%(texts)s::text[]) t WHERE strpos(detail, t) > 0)
"""


def rejected_events_forget(*, texts: Iterable[str]) -> int:
    """Delete every rejected event that holds one of these texts (an erased player's id and
    display name) in its key, its raw bytes (as they are, or escaped as JSON escapes them)
    or its detail, under a SHARE lock on the table (see rejected_without_replays). A
    dead letter of another player that happens to hold the text goes too. In the caller's
    transaction; returns how many went."""
    texts = [text for text in dict.fromkeys(texts) if text]
    if not texts:
        return 0
    needles = {
        form.encode()
        for text in texts
        for form in (
            text,
            json.dumps(text)[1:-1],
            json.dumps(text, ensure_ascii=False)[1:-1],
            text.replace("/", "\\/"),
        )
    }
    with connection.cursor() as cursor:
        cursor.execute("LOCK TABLE ingestion_rejectedevent IN SHARE MODE")
        cursor.execute(
            _FORGET_REJECTED_SQL,
            {"keys": [t.encode() for t in texts], "needles": sorted(needles), "texts": texts},
        )
        return cursor.rowcount


_PRUNE_REJECTED_SQL = """
DELETE FROM ingestion_rejectedevent
WHERE id IN (
    SELECT id FROM ingestion_rejectedevent WHERE received_at < %s ORDER BY received_at LIMIT %s
)
"""
REJECTED_PRUNE_BATCH = 5_000


def rejected_events_prune(
    *,
    now: datetime | None = None,
    retention_days: int | None = None,
    batch_size: int = REJECTED_PRUNE_BATCH,
) -> int:
    """Delete rejected events received more than `retention_days` (default
    REJECTED_EVENTS_RETENTION_DAYS; 0 keeps everything) before `now`. Batches of at most
    `batch_size` rows, each committed on its own, so a long backlog never holds one long
    transaction or lock, and a run that is stopped halfway leaves the rest to the next.
    Returns how many were deleted."""
    days = settings.REJECTED_EVENTS_RETENTION_DAYS if retention_days is None else retention_days
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(_PRUNE_REJECTED_SQL, [cutoff, batch_size])
            batch = cursor.rowcount
        deleted += batch
        if batch < batch_size:
            break
    if deleted:
        logger.info("pruned rejected events=%d received before=%s", deleted, cutoff.isoformat())
    return deleted


class KafkaUnavailable(ServiceUnavailable):
    pass


def events_publish(*, events: Sequence[tuple[str, dict]]) -> None:
    """Produce (player_id, payload) pairs to the score topic and wait for Kafka to take
    them. Raises KafkaUnavailable when it does not, in time."""
    topic = settings.KAFKA_TOPIC
    try:
        tracker = kafka.DeliveryTracker(kafka.producer_holder.get(topic))
        kafka.produce_events(tracker, events, topic=topic)
    except KafkaException as exc:
        raise KafkaUnavailable(f"Kafka is unavailable: {exc}") from exc
    tracker.wait(len(events), kafka.PRODUCE_TIMEOUT_SECONDS)
    if tracker.errors or len(tracker.delivered) < len(events):
        failed = len(events) - len(tracker.delivered)
        logger.warning("http produce: %d of %d events not delivered", failed, len(events))
        reason = tracker.errors[0] if tracker.errors else "no acknowledgement in time"
        raise KafkaUnavailable(
            f"Kafka did not accept {failed} of {len(events)} events ({reason}). "
            "Some may still arrive; resending is safe for events that carry an event_id."
        )
