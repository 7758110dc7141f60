"""Kafka and the consumer: the topic, the group, batches, what is rejected, metrics."""

from __future__ import annotations

import os

from config.env import env_bool, env_choice, env_int, env_ip_address, env_ports
from config.settings.base import DEBUG, DEFAULT_KAFKA_BOOTSTRAP

KAFKA_BOOTSTRAP_SERVERS = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or DEFAULT_KAFKA_BOOTSTRAP
KAFKA_TOPIC = os.environ.get("KAFKA_TOPIC", "score-events")
KAFKA_CONSUMER_GROUP = os.environ.get("KAFKA_CONSUMER_GROUP", "leaderboards")
KAFKA_TOPIC_PARTITIONS = env_int("KAFKA_TOPIC_PARTITIONS", 6, minimum=1)
KAFKA_TOPIC_REPLICATION = env_int("KAFKA_TOPIC_REPLICATION", 1, minimum=1)
# Producers ask Kafka for a producer id and number their batches, so a retry is written
# once (ingestion/kafka.py). Off only for a broker without idempotent producers.
KAFKA_PRODUCER_IDEMPOTENCE = env_bool("KAFKA_PRODUCER_IDEMPOTENCE", True)
# How long the group waits for a silent consumer before handing its partitions to the
# others (a killed consumer holds them that long). Joining a group takes about half of it
# on the embedded broker. Consumers heartbeat every third of it.
KAFKA_SESSION_TIMEOUT_MS = env_int("KAFKA_SESSION_TIMEOUT_MS", 10_000, minimum=1)
# How long the consumer's fetches may wait for data (librdkafka's fetch.wait.max.ms):
# the freshness a broker that holds fetches (the embedded one) costs each batch.
KAFKA_FETCH_WAIT_MAX_MS = env_int("KAFKA_FETCH_WAIT_MAX_MS", 100, minimum=0)
# How the group shares partitions (librdkafka's partition.assignment.strategy).
# cooperative-sticky moves only the partitions that change hands on a rebalance; a group
# cannot mix it with the eager ones (range, roundrobin), so switching means stopping every
# consumer of the group first.
KAFKA_ASSIGNMENT_STRATEGY = env_choice(
    "KAFKA_ASSIGNMENT_STRATEGY",
    "cooperative-sticky",
    ("cooperative-sticky", "range,roundrobin", "range", "roundrobin"),
)

# Ingestion: the consumer's batch size and how long it waits to fill one.
INGEST_BATCH_SIZE = env_int("INGEST_BATCH_SIZE", 5000, minimum=1)
INGEST_BATCH_TIMEOUT_MS = env_int("INGEST_BATCH_TIMEOUT_MS", 200, minimum=0)
# Events stamped further in the future than this are rejected.
INGEST_MAX_CLOCK_SKEW_SECONDS = env_int("INGEST_MAX_CLOCK_SKEW_SECONDS", 300, minimum=0)
# Larger deltas are rejected as absurd (a protection against bugs in game servers).
INGEST_MAX_ABS_DELTA = env_int("INGEST_MAX_ABS_DELTA", 1_000_000_000, minimum=1)
# A message that still makes the consumer raise (a bug, not bad input and not a database
# outage) is tried alone this many times, then stored as a rejected event (consumer.py).
INGEST_MAX_ATTEMPTS = env_int("INGEST_MAX_ATTEMPTS", 3, minimum=1)

# The consumer serves its Prometheus metrics on this port (0: no metrics server), or on
# the first free one of a range ("9110-9119"): several consumers on one host each take one.
CONSUMER_METRICS_PORTS = env_ports("CONSUMER_METRICS_PORT", "9108")
# The Celery worker serves its metrics (cache sync) here (0: none).
WORKER_METRICS_PORT = env_int("WORKER_METRICS_PORT", 9109, minimum=0)
# The address the consumer's and the worker's metrics servers listen on (config/metrics.py).
# Production listens on every interface, for Prometheus in another pod or container;
# `make run` (DJANGO_DEBUG) on loopback, so a laptop does not serve them to its network.
METRICS_BIND_ADDRESS = env_ip_address("METRICS_BIND_ADDRESS", "127.0.0.1" if DEBUG else "0.0.0.0")
