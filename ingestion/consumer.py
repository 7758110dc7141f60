"""The score consumer: Kafka batches into the delta log, then into Redis.

One batch, in this order:

1. consume up to N messages;
2. decode and validate them (bad ones become rejected events, never exceptions);
3. in one database transaction: upsert unknown players, insert the deltas (duplicates
   skipped by the dedupe key), store the rejections, write the next offset per partition;
4. after the commit, apply the new deltas to the cached Redis boards, fenced by offsets;
5. commit the offsets to Kafka (for lag monitoring; the database copy is the truth).

A crash anywhere replays the batch from the offsets in the database, and the dedupe key
makes the replay change nothing. While the database is down (or refusing the consumer's
SQL: not migrated, read-only after a failover) the batch is retried with backoff, for ever,
rejecting nothing. SIGTERM finishes the batch in hand, commits and leaves the group.

Bad input never raises (events.py). A batch that raises all the same has met a bug in the
consumer: it is split in halves until the message that raises is alone, the others are
stored as usual, and that message is tried alone INGEST_MAX_ATTEMPTS times (3) with backoff,
then stored as a `consumer_error` rejected event (the exception in its detail) in the same
transaction as the offset past it, so one message cannot block its partition for ever.
Three: a bug that depends on the message fails every time, so a third try tells nothing a
second did not, while a transient fault (a race with an erasure) passes on the second;
database faults do not count at all. The count lives in memory: a message that kills the
process outright (out of memory) is not caught by it.

Each batch logs under an id of its own (`batch_id`, `<consumer>-<n>`), and its counts and
stage timings go to the Prometheus metrics in `ingestion/metrics.py`.
"""

from __future__ import annotations

import logging
import secrets
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import redis
from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaException,
    TopicPartition,
)
from django.conf import settings
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    connection,
    transaction,
)

from config.kafka import client_config
from config.logging import log_context
from ingestion import metrics
from ingestion.events import (
    Limits,
    Reason,
    Rejection,
    ScoreEvent,
    decode_event,
    ingest_limits,
)
from ingestion.kafka import ensure_topic
from ingestion.services import RejectedMessage, rejected_events_store
from leaderboards.cache.apply import cache_apply_batch
from leaderboards.cache.builds import cache_drop_all
from leaderboards.cache.names import cache_names_set
from leaderboards.leagues import buckets_assign_batch
from leaderboards.postgres.deltas import (
    DeltaRow,
    deltas_count_late,
    deltas_insert_batch,
    offsets_for_topic,
    offsets_save,
)
from leaderboards.tournaments import tournaments_uncounted
from leaderboards.windows import EPOCH
from players.services import players_ensure, players_rename

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Sentinel "from" offset for a partition whose broker log restarted below our position:
# the cached boards are dropped and rebuilt from PostgreSQL.
BROKER_RESET = -2
NO_POSITION = -1
PLAYER_CACHE_SIZE = 1_000_000
LAG_REPORT_SECONDS = 1.0


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
            result = decode_event(raw, limits=limits, now=now, fallback_time=_broker_time(message))
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
            )
        ],
        next_offsets={partition: offset + 1},
        first_offsets={partition: offset},
    )


@dataclass(frozen=True, slots=True)
class StoredBatch:
    new: list[DeltaRow]  # the deltas that were not stored before
    looked_up: dict[str, int]  # players' keys looked up (sure to exist once committed)
    late: int  # new deltas in windows already finalised
    renamed: dict[str, str] = field(default_factory=dict)  # display names that changed


def store_batch(
    *, topic: str, batch: DecodedBatch, known_players: dict[str, int] | None = None
) -> StoredBatch:
    """Step 3: everything the batch changes in PostgreSQL, in one transaction."""
    known = known_players or {}
    with transaction.atomic():
        looked_up = players_ensure(
            external_ids=[e.player_id for _, e in batch.events if e.player_id not in known]
        )
        player_pks = {**known, **looked_up} if looked_up else known
        rows = [
            DeltaRow(
                dedupe_key=event.dedupe_key,
                player_pk=player_pks[event.player_id],
                player_id=event.player_id,
                metric=event.metric,
                delta=event.delta,
                created_at=event.created_at,
                partition=partition,
                by_event_id=event.event_id is not None,
            )
            for partition, event in batch.events
        ]
        new = deltas_insert_batch(rows=rows)
        renamed = players_rename(names=latest_names(batch))
        late = deltas_count_late(rows=new)
        uncounted = tournaments_uncounted(rows=new)
        buckets_assign_batch(rows=new)
        rejected_events_store(rejected=batch.rejected)
        offsets_save(topic=topic, next_offsets=batch.next_offsets)
    metrics.EVENTS_AFTER_FINALIZATION.inc(late)
    metrics.EVENTS_NOT_COUNTED.inc(uncounted)
    return StoredBatch(new=new, looked_up=looked_up, late=late, renamed=renamed)


def latest_names(batch: DecodedBatch) -> dict[str, tuple[str, datetime]]:
    """Each player's display name from the batch's latest event carrying one (by
    created_at; the later message on a tie)."""
    names: dict[str, tuple[str, datetime]] = {}
    for _, event in batch.events:
        if event.display_name is not None:
            seen = names.get(event.player_id)
            if seen is None or seen[1] <= event.created_at:
                names[event.player_id] = (event.display_name, event.created_at)
    return names


class ScoreConsumer:
    """The batch loop behind `manage.py consume_scores`."""

    def __init__(
        self,
        *,
        topic: str | None = None,
        group: str | None = None,
        batch_size: int | None = None,
        batch_timeout: float | None = None,
        on_batch: Callable[[BatchResult], None] | None = None,
    ) -> None:
        self.topic = topic or settings.KAFKA_TOPIC
        self.group = group or settings.KAFKA_CONSUMER_GROUP
        self.batch_size = batch_size or settings.INGEST_BATCH_SIZE
        self.batch_timeout = (
            batch_timeout if batch_timeout is not None else settings.INGEST_BATCH_TIMEOUT_MS / 1000
        )
        self.limits = ingest_limits()
        self.on_batch = on_batch
        self.stopping = False
        # Where each assigned partition stands: the offset the next batch starts from.
        self.positions: dict[int, int] = {}
        self.consumer: Consumer | None = None
        self.assigned = False
        # external id -> primary key of players known to exist, saving a lookup per batch.
        self.player_pks: dict[str, int] = {}
        # Batch ids in the logs: this consumer's tag and how many batches it has taken.
        self.tag = secrets.token_hex(3)
        self.batches = 0
        self.lag_reported_at = 0.0

    def stop(self, *_args) -> None:
        self.stopping = True

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def run(self, *, max_idle_seconds: float | None = None) -> None:
        """Consume until stopped (or, for tests and benchmarks, idle for max_idle_seconds)."""
        ensure_topic(topic=self.topic)
        self.consumer = Consumer(
            client_config(
                **{
                    "group.id": self.group,
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "auto.offset.reset": "earliest",
                    "session.timeout.ms": settings.KAFKA_SESSION_TIMEOUT_MS,
                    # cooperative-sticky: a rebalance moves only the partitions that change
                    # hands; the others keep being consumed meanwhile.
                    "partition.assignment.strategy": settings.KAFKA_ASSIGNMENT_STRATEGY,
                    # librdkafka pauses fetching for this long whenever its queue is full; the
                    # default second shows up as one-second stalls at high throughput.
                    "fetch.queue.backoff.ms": 20,
                    "fetch.max.bytes": 52_428_800,
                    "max.partition.fetch.bytes": 4_194_304,
                }
            )
        )
        self.consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        idle_since = time.monotonic()
        try:
            while not self.stopping:
                self._report_lag()
                messages = self.consumer.consume(self.batch_size, self.batch_timeout)
                if not messages:
                    if not self.assigned:  # joining the group takes a few seconds
                        idle_since = time.monotonic()
                    elif max_idle_seconds is not None and (
                        time.monotonic() - idle_since > max_idle_seconds
                    ):
                        break
                    continue
                idle_since = time.monotonic()
                self.batches += 1
                with log_context(batch_id=f"{self.tag}-{self.batches}"):
                    results = self.process_isolating(messages)
                if self.on_batch:
                    for result in results:
                        self.on_batch(result)
        finally:
            self.consumer.close()
            logger.info("consumer left group %s", self.group)

    def process_isolating(self, messages: Sequence) -> list[BatchResult]:
        """`process()`, and when it raises, the halves of the batch in order until the
        message that raises is alone; that one is tried again, then rejected (see the
        module's docstring). Stops (leaving the rest uncommitted) when told to stop."""
        try:
            result = self.process(messages)
        except Exception as exc:
            if len(messages) == 1:
                result = self._retry_alone(messages[0], exc)
            else:
                logger.warning("batch of %d raised %r: isolating the message", len(messages), exc)
                half = len(messages) // 2
                results = []
                for part in (messages[:half], messages[half:]):
                    results += self.process_isolating(part)
                    if self.stopping:  # the rest must not be stored past a failed message
                        break
                return results
        return [result] if result is not None else []

    def _retry_alone(self, message, exc: Exception) -> BatchResult | None:
        """A message that made processing raise, tried alone until it has failed
        INGEST_MAX_ATTEMPTS times, then stored as a rejected event."""
        attempts = 1
        while True:
            logger.error(
                "message %s[%d]@%d raised on attempt %d of %d",
                message.topic(),
                message.partition(),
                message.offset(),
                attempts,
                settings.INGEST_MAX_ATTEMPTS,
                exc_info=exc,
            )
            if attempts >= settings.INGEST_MAX_ATTEMPTS:
                return self._store_and_apply(poison_batch(message, exc, attempts), consumed=1)
            self._sleep(0.5 * 2 ** (attempts - 1))
            if self.stopping:
                return None
            attempts += 1
            try:
                return self.process([message])
            except Exception as again:
                exc = again

    def process(self, messages: Sequence) -> BatchResult | None:
        clock = metrics.StageClock()
        batch = decode_batch(messages, limits=self.limits, now=datetime.now(UTC))
        clock.lap("decode")
        return self._store_and_apply(batch, consumed=len(messages), clock=clock)

    def _store_and_apply(
        self, batch: DecodedBatch, *, consumed: int, clock: metrics.StageClock | None = None
    ) -> BatchResult | None:
        """Steps 3 to 5 for a decoded batch. Only step 3 (the transaction) may raise: once
        it has committed, nothing after it may make the batch count as failed."""
        clock = clock or metrics.StageClock()
        if not batch.next_offsets:
            return None
        stored = self._store_with_retry(batch)
        if stored is None:  # stopping while the database was down: commit nothing
            return None
        new = stored.new
        clock.lap("store")
        positions = {
            partition: (self._from_offset(partition, batch.first_offsets[partition]), end)
            for partition, end in batch.next_offsets.items()
        }
        self.positions.update(batch.next_offsets)
        try:
            if any(start == BROKER_RESET for start, _ in positions.values()):
                # Offsets restarted below every fence: they can no longer tell what a
                # cached board holds, so all of them are built again.
                cache_drop_all()
            boards = cache_apply_batch(deltas=new, positions=positions)
            cache_names_set(stored.renamed)
        except Exception as exc:
            # The cached boards miss this batch now; their fences notice the gap on the next
            # batch and they are rebuilt from PostgreSQL. Not only Redis errors: the batch is
            # stored, so a bug here must not send its messages to the poison-pill rule.
            logger.warning(
                "redis apply failed, cached boards will be rebuilt: %r",
                exc,
                exc_info=not isinstance(exc, redis.RedisError),
            )
            metrics.REDIS_APPLY_FAILURES.inc()
            boards = {}
        clock.lap("redis")
        applied_at = time.time()
        try:
            self.consumer.commit(
                offsets=[
                    TopicPartition(self.topic, p, end) for p, end in batch.next_offsets.items()
                ],
                asynchronous=True,
            )
        except KafkaException as exc:  # the offsets in PostgreSQL are the ones that count
            logger.warning("kafka offset commit failed: %s", exc)
        clock.lap("commit")
        result = BatchResult(
            consumed=consumed,
            accepted=len(new),
            duplicates=len(batch.events) - len(new),
            rejected=len(batch.rejected),
            boards=boards,
        )
        metrics.record_batch(
            consumed=result.consumed,
            accepted=[row.created_at for row in new],
            duplicates=result.duplicates,
            rejected_reasons=[r.reason for r in batch.rejected],
            board_outcomes=boards.values(),
            stages=clock.total(),
            applied_at=applied_at,
        )
        logger.debug(
            "batch: %d consumed, %d accepted, %d duplicates, %d rejected, boards %s",
            result.consumed,
            result.accepted,
            result.duplicates,
            result.rejected,
            boards,
        )
        return result

    def _report_lag(self) -> None:
        """Lag per assigned partition, at most once a second. The high watermarks are the
        ones the last fetches brought (cached): asking the broker instead costs a round trip
        per partition, and Tansu answers that query with too low an offset."""
        now = time.monotonic()
        if now - self.lag_reported_at < LAG_REPORT_SECONDS:
            return
        self.lag_reported_at = now
        lag = {}
        for partition, position in list(self.positions.items()):
            try:
                watermarks = self.consumer.get_watermark_offsets(
                    TopicPartition(self.topic, partition), cached=True
                )
            except KafkaException:
                continue
            if not watermarks or watermarks[1] < 0:  # nothing fetched from it yet
                continue
            low, high = watermarks
            start = position if position >= 0 else max(low, 0)
            lag[partition] = max(high - start, 0)
        metrics.record_lag(topic=self.topic, lag=lag)

    def _from_offset(self, partition: int, first_offset: int) -> int:
        position = self.positions.get(partition, NO_POSITION)
        if position > first_offset:
            logger.warning(
                "partition %d restarted below our position (%d > %d): the broker lost its log",
                partition,
                position,
                first_offset,
            )
            return BROKER_RESET
        return position

    def _store_with_retry(self, batch: DecodedBatch) -> StoredBatch | None:
        while True:
            try:
                stored = self._with_database(
                    lambda: store_batch(
                        topic=self.topic, batch=batch, known_players=self.player_pks
                    ),
                    doing="storing a batch",
                )
            except IntegrityError:
                # A cached player was deleted meanwhile: forget the cache and look them up.
                if not self.player_pks:
                    raise
                self.player_pks = {}
                continue
            if stored is None:
                return None
            if len(self.player_pks) > PLAYER_CACHE_SIZE:
                self.player_pks = {}
            self.player_pks.update(stored.looked_up)
            return stored

    def _with_database(self, work: Callable[[], T], *, doing: str) -> T | None:
        """`work()`, tried again with backoff while the database is unavailable; None when
        the consumer is told to stop meanwhile. Unavailable: any database error but bad data
        (DataError) and broken constraints (IntegrityError), the two a message can cause;
        down, not migrated, read-only after a failover or refusing us are the database's
        state, so they are waited out, never blamed on a message."""
        delay = 0.5
        while True:
            try:
                return work()
            except DatabaseError as exc:
                if isinstance(exc, DataError | IntegrityError):
                    raise
                if self.stopping:
                    return None
                logger.error(
                    "database unavailable while %s, retrying in %.1fs: %s", doing, delay, exc
                )
                metrics.DB_RETRIES.inc()
                connection.close()
                self._sleep(delay)
                delay = min(delay * 2, 30.0)

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, deadline - time.monotonic()))

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        stored = self._stored_offsets()
        for tp in partitions:
            if tp.partition not in stored:
                tp.offset = OFFSET_BEGINNING
                self.positions[tp.partition] = NO_POSITION
                continue
            tp.offset = self.positions[tp.partition] = stored[tp.partition]
            if self._broker_lost_log(consumer, tp):
                logger.warning(
                    "partition %d holds less than the stored offset %d and the group has no "
                    "committed offset: the broker lost its log; reading it from the start",
                    tp.partition,
                    tp.offset,
                )
                tp.offset = OFFSET_BEGINNING
                self.positions[tp.partition] = BROKER_RESET
        if partitions:  # a cooperative rebalance may add none
            logger.info("assigned partitions %s", {tp.partition: tp.offset for tp in partitions})
        if settings.KAFKA_ASSIGNMENT_STRATEGY == "cooperative-sticky":
            consumer.incremental_assign(partitions)  # added to what the consumer keeps
        else:
            consumer.assign(partitions)
        self.assigned = True

    @staticmethod
    def _broker_lost_log(consumer: Consumer, tp: TopicPartition) -> bool:
        """A stored offset past the partition's end means the broker restarted empty (the
        in-memory embedded one) or the topic was recreated: seeking there would skip
        everything below it. Some brokers (Tansu) report the end too low after a batch,
        so the group's committed offset, which a restart also loses, must be gone too."""
        _low, high = consumer.get_watermark_offsets(tp, timeout=10, cached=False)
        if tp.offset <= high:
            return False
        committed = consumer.committed([TopicPartition(tp.topic, tp.partition)], timeout=10)
        return committed[0].offset < 0

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.positions.pop(tp.partition, None)
        metrics.forget_lag(topic=self.topic, partitions=[tp.partition for tp in partitions])
        logger.info("revoked partitions %s", [tp.partition for tp in partitions])

    def _stored_offsets(self) -> dict[int, int]:
        stored = self._with_database(
            lambda: offsets_for_topic(topic=self.topic), doing="reading the stored offsets"
        )
        return stored if stored is not None else {}
