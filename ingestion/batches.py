"""A batch of Kafka messages, as the consumer (ingestion/consumer.py) takes it: decoded
into events and rejections (step 2), then stored in one transaction (step 3): the scores
through the leaderboards service that records them (leaderboards/recording.py), the
rejections beside them."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial

import msgspec
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE
from django.db import transaction

from ingestion import metrics
from ingestion.events import (
    FIELD_ALIASES,
    MAX_EVENT_BYTES,
    Limits,
    Reason,
    Rejection,
    ScoreEvent,
    decode_event,
)
from ingestion.services import (
    RejectedMessage,
    rejected_events_store,
    rejected_without_replays,
)
from leaderboards.recording import RecordedBatch, scores_record_batch
from leaderboards.windows import EPOCH

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class DecodedBatch:
    events: list[tuple[int, ScoreEvent]] = field(default_factory=list)  # (partition, event)
    rejected: list[RejectedMessage] = field(default_factory=list)
    next_offsets: dict[int, int] = field(default_factory=dict)
    first_offsets: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class BatchResult:
    consumed: int
    accepted: int
    duplicates: int
    rejected: int
    boards: dict[int, str]
    erased: int = 0  # messages dropped as replays of an erased player's


def decode_batch(messages: Sequence, *, limits: Limits, now: datetime) -> DecodedBatch:
    """Turn raw Kafka messages into events and rejections; track offsets per partition."""
    batch = DecodedBatch()
    for message in messages:
        if message.error() is not None:
            logger.warning("kafka message error: %s", message.error())
            continue
        partition, offset = message.partition(), message.offset()
        batch.first_offsets.setdefault(partition, offset)
        batch.next_offsets[partition] = offset + 1
        raw = message.value()
        if not raw:
            result: ScoreEvent | Rejection = Rejection(Reason.EMPTY_MESSAGE, "message has no value")
        else:
            result = decode_event(
                raw, limits=limits, now=now, fallback_time=partial(_broker_time, message)
            )
        if isinstance(result, Rejection):
            batch.rejected.append(
                RejectedMessage(
                    topic=message.topic(),
                    partition=partition,
                    offset=offset,
                    key=message.key(),
                    raw=raw or b"",
                    reason=result.reason,
                    detail=result.detail,
                    sent_at=_broker_time(message),
                    player_ids=named_players(message.key(), raw),
                )
            )
        else:
            batch.events.append((partition, result))
    return batch


def _broker_time(message) -> datetime | None:
    """The message's timestamp, None when there is none. A producer sets it (CreateTime)
    to any int64: past year 9999 it is as good as none."""
    kind, millis = message.timestamp()
    if kind == TIMESTAMP_NOT_AVAILABLE or millis <= 0:
        return None
    try:
        return EPOCH + timedelta(milliseconds=millis)
    except OverflowError:
        return None


_payload = msgspec.json.Decoder()


def named_players(key: bytes | None, raw: bytes | None) -> tuple[str, ...]:
    """The player ids a rejected message names: its key (producers key by player), and the
    payload's player_id when it is a JSON object that has one. Rejections are rare, so the
    payload is decoded again here rather than carried out of decode_event."""
    ids = []
    if key:
        with contextlib.suppress(UnicodeDecodeError):
            ids.append(key.decode())
    if raw and len(raw) <= MAX_EVENT_BYTES:
        try:
            payload = _payload.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            payload = None
        if isinstance(payload, dict):
            named = (payload.get(name) for name in FIELD_ALIASES["player_id"])
            ids += [player_id for player_id in named if isinstance(player_id, str)]
    return tuple(dict.fromkeys(ids))


def poison_batch(message, exc: BaseException, attempts: int) -> DecodedBatch:
    """A batch that stores `message` as a consumer_error rejected event and moves its
    partition's offset past it."""
    partition, offset = message.partition(), message.offset()
    detail = f"{type(exc).__name__}: {exc} (raised on {attempts} attempts)"
    # PostgreSQL text takes no NUL, and UTF-8 no lone surrogate an exception might quote.
    detail = detail.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\x00")
    return DecodedBatch(
        rejected=[
            RejectedMessage(
                topic=message.topic(),
                partition=partition,
                offset=offset,
                key=message.key(),
                raw=message.value() or b"",
                reason=Reason.CONSUMER_ERROR,
                detail=detail[:2000],
                sent_at=_broker_time(message),
                player_ids=named_players(message.key(), message.value()),
            )
        ],
        next_offsets={partition: offset + 1},
        first_offsets={partition: offset},
    )


def store_batch(
    *, topic: str, batch: DecodedBatch, known_players: dict[str, int] | None = None
) -> RecordedBatch:
    """Step 3: everything the batch changes in PostgreSQL, in one transaction. Messages that
    replay an erased player's are dropped (leaderboards/erasure.py): events by
    scores_record_batch, rejections here, which then leaves in `batch.rejected` only the
    ones stored. The result's `erased` counts both."""
    with transaction.atomic():
        recorded = scores_record_batch(
            topic=topic,
            scores=batch.events,
            next_offsets=batch.next_offsets,
            known_players=known_players,
        )
        rejected = rejected_without_replays(rejected=batch.rejected)
        rejected_events_store(rejected=rejected)
    erased = recorded.erased + len(batch.rejected) - len(rejected)
    batch.rejected = rejected
    if erased:
        # Never the ids: they are what the erasure took away.
        logger.info("dropped %d messages replaying erased players", erased)
        metrics.EVENTS_ERASED.inc(erased)
    metrics.EVENTS_AFTER_FINALIZATION.inc(recorded.late)
    metrics.EVENTS_NOT_COUNTED.inc(recorded.uncounted)
    return replace(recorded, erased=erased)
