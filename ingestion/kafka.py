"""Kafka plumbing: client configuration, the topic, and a producer for score events."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import msgspec
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from django.conf import settings

logger = logging.getLogger(__name__)


def client_config(**overrides) -> dict:
    return {"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS, **overrides}


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


def make_producer(**overrides) -> Producer:
    return Producer(
        client_config(
            **{
                "linger.ms": 20,
                "compression.type": "lz4",
                "enable.idempotence": False,
                **overrides,
            }
        )
    )


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
