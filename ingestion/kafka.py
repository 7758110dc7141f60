"""Kafka plumbing: the score topic and a producer for score events (clients connect as
config/kafka.py says)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

import msgspec
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from django.conf import settings

from config.kafka import client_config

logger = logging.getLogger(__name__)

# How long an HTTP request waits for Kafka to acknowledge its events, and for the topic.
PRODUCE_TIMEOUT_SECONDS = 10.0
TOPIC_TIMEOUT_SECONDS = 10.0


def ensure_topic(
    *, topic: str | None = None, partitions: int | None = None, timeout: float = 30
) -> None:
    """Create the score topic when it is missing (6 partitions by default)."""
    topic = topic or settings.KAFKA_TOPIC
    admin = AdminClient(client_config())
    if topic in admin.list_topics(timeout=timeout).topics:
        return
    futures = admin.create_topics(
        [
            NewTopic(
                topic,
                num_partitions=partitions or settings.KAFKA_TOPIC_PARTITIONS,
                replication_factor=settings.KAFKA_TOPIC_REPLICATION,
            )
        ]
    )
    try:
        futures[topic].result(timeout)
        logger.info("created topic %s", topic)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise


def producer_config(**overrides) -> dict:
    """librdkafka settings of every score-event producer (`POST /events/`, the faker, the
    benchmark). An event counts as sent once every in-sync replica has it (`acks=all`: a
    leader that fails right after answering loses nothing), and idempotence lets librdkafka
    retry a batch without writing it twice or out of order within its partition (which a
    player's `last` and `earliest` scores depend on). KAFKA_PRODUCER_IDEMPOTENCE turns the
    latter off for a broker that lacks it; acks=all stays."""
    return client_config(
        **{
            "acks": "all",
            "enable.idempotence": settings.KAFKA_PRODUCER_IDEMPOTENCE,
            "linger.ms": 20,
            "compression.type": "lz4",
            **overrides,
        }
    )


def consumer_config(*, group: str) -> dict:
    """librdkafka settings of the score consumer (ingestion/consumer.py): offsets are its
    own to commit, after each batch is stored."""
    return client_config(
        **{
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": settings.KAFKA_SESSION_TIMEOUT_MS,
            # A third of it, as Kafka advises, so that a short session (the tests') still
            # gets three heartbeats in; librdkafka's default is a fixed 3 s.
            "heartbeat.interval.ms": max(100, settings.KAFKA_SESSION_TIMEOUT_MS // 3),
            # cooperative-sticky: a rebalance moves only the partitions that change
            # hands; the others keep being consumed meanwhile.
            "partition.assignment.strategy": settings.KAFKA_ASSIGNMENT_STRATEGY,
            # librdkafka pauses fetching for this long whenever its queue is full; the
            # default second shows up as one-second stalls at high throughput.
            "fetch.queue.backoff.ms": 20,
            # How long a fetch may wait for data to arrive. Kafka answers as soon as there
            # is any; a broker that holds every fetch this long (Tansu) adds it to each
            # batch's freshness, and librdkafka's 500 ms made p99 1.4 s at 1M events/min.
            "fetch.wait.max.ms": settings.KAFKA_FETCH_WAIT_MAX_MS,
            "fetch.max.bytes": 52_428_800,
            "max.partition.fetch.bytes": 4_194_304,
        }
    )


def broker_lost_log(consumer: Consumer, tp: TopicPartition) -> bool:
    """A stored offset past the partition's end means the broker restarted empty (the
    in-memory embedded one) or the topic was recreated: seeking there would skip
    everything below it. Some brokers (Tansu) report the end too low after a batch,
    so the group's committed offset, which a restart also loses, must be gone too."""
    _low, high = consumer.get_watermark_offsets(tp, timeout=10, cached=False)
    if tp.offset <= high:
        return False
    committed = consumer.committed([TopicPartition(tp.topic, tp.partition)], timeout=10)
    return committed[0].offset < 0


def make_producer(**overrides) -> Producer:
    return Producer(producer_config(**overrides))


_encoder = msgspec.json.Encoder()


def produce_events(
    producer: Producer, events: Iterable[tuple[str, dict]], *, topic: str | None = None
) -> int:
    """Queue (player_id, event) pairs, keyed by player so each player's events stay ordered
    in one partition."""
    topic = topic or settings.KAFKA_TOPIC
    count = 0
    for player_id, event in events:
        while True:
            try:
                producer.produce(topic, _encoder.encode(event), key=player_id.encode())
                break
            except BufferError:
                producer.poll(0.05)  # local queue full: let deliveries drain
        count += 1
    producer.poll(0)
    return count


class ProducerHolder:
    """One producer per process, created on first use (after a fork, in the worker that
    uses it), and the topics already checked to exist."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._producer: Producer | None = None
        self._topics: set[str] = set()

    def get(self, topic: str) -> Producer:
        with self._lock:
            if topic not in self._topics:
                ensure_topic(topic=topic, timeout=TOPIC_TIMEOUT_SECONDS)
                self._topics.add(topic)
            if self._producer is None:
                # Undelivered messages expire instead of reaching Kafka long after the
                # client was told they failed.
                timeout_ms = int(PRODUCE_TIMEOUT_SECONDS * 1000)
                self._producer = make_producer(**{"message.timeout.ms": timeout_ms})
            return self._producer

    def reset(self) -> None:
        with self._lock:
            self._producer = None
            self._topics.clear()


producer_holder = ProducerHolder()


class DeliveryTracker:
    """Wraps the shared producer for one request, so the request learns the fate of its
    own messages even while other requests use the same producer."""

    def __init__(self, producer: Producer) -> None:
        self._producer = producer
        self.delivered: list[bool] = []
        self.errors: list[str] = []

    def produce(self, topic, value, key=None) -> None:
        self._producer.produce(topic, value, key=key, on_delivery=self._on_delivery)

    def poll(self, timeout: float) -> int:
        return self._producer.poll(timeout)

    def _on_delivery(self, err, _message) -> None:
        if err is None:
            self.delivered.append(True)
        else:
            self.errors.append(str(err))

    def wait(self, expected: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self._producer.flush(timeout)
        # Another thread's poll may serve our callbacks; wait until they have all run.
        while len(self.delivered) + len(self.errors) < expected:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._producer.poll(min(remaining, 0.05))
