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

Steps 1 and 2 of the next batch overlap steps 3 to 5 of this one: the next batch is
consumed before this one is stored, and decoded on a thread of its own while this one
waits on PostgreSQL and Redis (their waits release the GIL; decoding is a third of the
consumer's CPU). While a batch waits to be stored, the next consume takes only what is
already fetched, so a quiet topic's batch is stored at once rather than after a poll's
timeout. A rebalance stores the batch in hand before it gives partitions up, and SIGTERM
stores it before leaving: nothing consumed is left half-done.

Each batch logs under an id of its own (`batch_id`, `<consumer>-<n>`), and its counts and
stage timings go to the Prometheus metrics in `ingestion/metrics.py`.
"""

from __future__ import annotations

import contextvars
import logging
import secrets
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import redis
from confluent_kafka import (
    OFFSET_BEGINNING,
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
)

from config.logging import log_context
from ingestion import metrics
from ingestion.batches import BatchResult, DecodedBatch, decode_batch, poison_batch, store_batch
from ingestion.events import (
    ingest_limits,
)
from ingestion.kafka import broker_lost_log, consumer_config, ensure_topic
from leaderboards.recording import RecordedBatch, consumer_offsets, scores_publish_batch

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Sentinel "from" offset for a partition whose broker log restarted below our position:
# the cached boards are dropped and rebuilt from PostgreSQL.
BROKER_RESET = -2
NO_POSITION = -1
PLAYER_CACHE_SIZE = 1_000_000
LAG_REPORT_SECONDS = 1.0


@dataclass(slots=True)
class _Ahead:
    """A batch consumed and decoding on the decoder thread while the one before is stored."""

    number: int
    messages: list
    decoded: Future[tuple[DecodedBatch, float]]


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
        self.ahead: _Ahead | None = None
        self.decoder: ThreadPoolExecutor | None = None

    def stop(self, *_args) -> None:
        self.stopping = True

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def run(self, *, max_idle_seconds: float | None = None) -> None:
        """Consume until stopped (or, for tests and benchmarks, idle for max_idle_seconds)."""
        ensure_topic(topic=self.topic)
        self.consumer = Consumer(consumer_config(group=self.group))
        self.consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        self.decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode")
        idle_since = time.monotonic()
        try:
            while not self.stopping:
                self._report_lag()
                # With a batch in hand, take only what is fetched already (module docstring).
                timeout = 0 if self.ahead else self.batch_timeout
                messages = self.consumer.consume(self.batch_size, timeout)
                ahead = self._decode_ahead(messages) if messages else None
                self._finish_ahead()
                self.ahead = ahead
                if messages or not self.assigned:
                    idle_since = time.monotonic()
                elif max_idle_seconds is not None and (
                    time.monotonic() - idle_since > max_idle_seconds
                ):
                    break
            self._finish_ahead()
        finally:
            self.ahead = None  # stored above, unless an exception is on its way out
            self.decoder.shutdown(cancel_futures=True)
            self.consumer.close()
            logger.info("consumer left group %s", self.group)

    def _decode_ahead(self, messages: list) -> _Ahead:
        """Start decoding a batch on the decoder thread, under its own batch id."""
        self.batches += 1
        with log_context(batch_id=f"{self.tag}-{self.batches}"):
            context = contextvars.copy_context()
        assert self.decoder is not None
        decoded = self.decoder.submit(context.run, self._decode, messages)
        return _Ahead(self.batches, messages, decoded)

    def _decode(self, messages: Sequence) -> tuple[DecodedBatch, float]:
        started = time.perf_counter()
        batch = decode_batch(messages, limits=self.limits, now=datetime.now(UTC))
        return batch, time.perf_counter() - started

    def _finish_ahead(self) -> None:
        """Steps 3 to 5 for the batch in hand, if any."""
        ahead, self.ahead = self.ahead, None
        if ahead is None:
            return
        with log_context(batch_id=f"{self.tag}-{ahead.number}"):
            results = self.process_isolating(ahead.messages, decoded=ahead.decoded)
        if self.on_batch:
            for result in results:
                self.on_batch(result)

    def process_isolating(
        self, messages: Sequence, *, decoded: Future[tuple[DecodedBatch, float]] | None = None
    ) -> list[BatchResult]:
        """`process()`, and when it raises, the halves of the batch in order until the
        message that raises is alone; that one is tried again, then rejected (see the
        module's docstring). Stops (leaving the rest uncommitted) when told to stop."""
        try:
            result = self.process(messages, decoded=decoded)
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

    def process(
        self, messages: Sequence, *, decoded: Future[tuple[DecodedBatch, float]] | None = None
    ) -> BatchResult | None:
        """Steps 2 to 5 for a batch; step 2 may have run on the decoder thread (`decoded`)."""
        clock = metrics.StageClock()
        if decoded is None:
            batch = decode_batch(messages, limits=self.limits, now=datetime.now(UTC))
            clock.lap("decode")
        else:
            batch, seconds = decoded.result()
            clock.ran("decode", seconds)
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
            boards = scores_publish_batch(
                new=new,
                positions=positions,
                renamed=stored.renamed,
                # Offsets restarted below every fence: they can no longer tell what a
                # cached board holds, so all of them are built again.
                offsets_restarted=any(start == BROKER_RESET for start, _ in positions.values()),
            )
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
            duplicates=len(batch.events) - len(new) - stored.erased,
            rejected=len(batch.rejected),
            boards=boards,
            erased=stored.erased,
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

    def _store_with_retry(self, batch: DecodedBatch) -> RecordedBatch | None:
        retried = False
        while True:
            try:
                stored = self._with_database(
                    lambda: store_batch(
                        topic=self.topic, batch=batch, known_players=self.player_pks
                    ),
                    doing="storing a batch",
                )
            except IntegrityError:
                # A player the batch names was erased meanwhile (leaderboards/erasure.py):
                # its key, cached or looked up before the erasure committed, is gone. Forget
                # the cache and look them up again, once; a second failure is the batch's.
                if retried:
                    raise
                logger.info("a player of the batch was erased meanwhile: storing it again")
                retried = True
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
            if broker_lost_log(consumer, tp):
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

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._finish_ahead()  # stored while the partitions are still ours
        for tp in partitions:
            self.positions.pop(tp.partition, None)
        metrics.forget_lag(topic=self.topic, partitions=[tp.partition for tp in partitions])
        logger.info("revoked partitions %s", [tp.partition for tp in partitions])

    def _stored_offsets(self) -> dict[int, int]:
        stored = self._with_database(
            lambda: consumer_offsets(topic=self.topic), doing="reading the stored offsets"
        )
        return stored if stored is not None else {}
