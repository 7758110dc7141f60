"""Prometheus metrics of the score consumer, served by `manage.py consume_scores` on its own
port (settings.CONSUMER_METRICS_PORTS, or --metrics-port).

The batch loop calls `record_batch` once per stored batch and `record_lag` at most once a
second, so the cost per event stays a counter increment per batch plus one histogram
observation per accepted event (its cost: docs/benchmarks.md).
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import threading
import time
from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from ingestion.events import Reason

REJECTION_REASONS = sorted(
    value for name, value in vars(Reason).items() if name.isupper() and isinstance(value, str)
)
STAGES = ("decode", "store", "redis", "commit", "total")

EVENTS_CONSUMED = Counter(
    "leaderboards_events_consumed", "Kafka messages consumed (counted once their batch is stored)."
)
EVENTS_ACCEPTED = Counter(
    "leaderboards_events_accepted", "Events that were new and went into the delta log."
)
EVENTS_DUPLICATE = Counter(
    "leaderboards_events_duplicate",
    "Valid events skipped because their dedupe key was already stored (replays, retries).",
)
EVENTS_AFTER_FINALIZATION = Counter(
    "leaderboards_events_after_finalization",
    "New events whose time falls in a window already finalised: stored, not in its results.",
)
EVENTS_NOT_COUNTED = Counter(
    "leaderboards_events_not_counted",
    "New events in a live tournament board's window that do not count on it (the player "
    "has not joined, or has used their attempts): stored, not in its results; once per board.",
)
EVENTS_ERASED = Counter(
    "leaderboards_events_erased",
    "Messages dropped because they replay an erased player's (stamped, or sent, at or before "
    "the erasure): neither stored nor rejected (leaderboards/erasure.py).",
)
EVENTS_REJECTED = Counter(
    "leaderboards_events_rejected",
    "Messages stored as rejected events, by reason.",
    ["reason"],
)
BATCH_SIZE = Histogram(
    "leaderboards_consumer_batch_size",
    "Messages per consumer batch.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000),
)
BATCH_SECONDS = Histogram(
    "leaderboards_consumer_batch_seconds",
    "Time a batch spent in each stage (decode, store, redis, commit) and in all (total).",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
REDIS_APPLY_SECONDS = Histogram(
    "leaderboards_redis_apply_seconds",
    "Time to apply one batch to the cached Redis boards (one pipelined round trip).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
REDIS_BOARD_APPLIES = Counter(
    "leaderboards_redis_board_applies",
    "Per cached board and batch, what the apply did (applied, queued, absent, stale, "
    "redefined; unreachable: its Redis Cluster node failed).",
    ["outcome"],
)
REDIS_APPLY_FAILURES = Counter(
    "leaderboards_redis_apply_failures",
    "Batches Redis could not take (the cached boards are rebuilt from PostgreSQL).",
)


class BatchHistogram:
    """A histogram fed a batch of values at a time, exposed as any histogram of its name
    (without `_created`). prometheus_client's `observe` takes a lock and walks the buckets
    for each value: 2 µs an accepted event, a tenth of the consumer's CPU; this places a
    batch with bisect and adds it under one lock."""

    def __init__(
        self,
        name: str,
        documentation: str,
        *,
        buckets: Sequence[float],
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        self.name, self.documentation = name, documentation
        self.bounds = [float(bound) for bound in buckets]
        self.counts = [0] * (len(self.bounds) + 1)  # the last: above every bound (+Inf)
        self.sum = 0.0
        self.lock = threading.Lock()
        registry.register(self)

    def observe_many(self, values: Iterable[float]) -> None:
        counts, total = [0] * len(self.counts), 0.0
        place, bounds = bisect.bisect_left, self.bounds  # le: a value on a bound is in it
        for value in values:
            counts[place(bounds, value)] += 1
            total += value
        with self.lock:
            self.counts = [mine + new for mine, new in zip(self.counts, counts, strict=True)]
            self.sum += total

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self.lock:
            counts, total = list(self.counts), self.sum
        cumulative = list(itertools.accumulate(counts))
        bounds = [*map(floatToGoString, self.bounds), "+Inf"]
        yield HistogramMetricFamily(
            self.name,
            self.documentation,
            buckets=list(zip(bounds, cumulative, strict=True)),
            sum_value=total,
        )


FRESHNESS_SECONDS = BatchHistogram(
    "leaderboards_event_freshness_seconds",
    "From an accepted event's created_at to the end of its batch's Redis apply, when reads "
    "see it. Replays and late events show up in the high buckets.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 300, 3600),
)
CONSUMER_LAG = Gauge(
    "leaderboards_consumer_lag",
    "Messages behind per assigned partition: the broker's high watermark minus the offset "
    "the next batch starts from. Updated at most once a second.",
    ["topic", "partition"],
)
DB_RETRIES = Counter(
    "leaderboards_consumer_db_retries",
    "Times the consumer found the database unavailable and retried with backoff.",
)

# Children bound once: `labels()` costs a lock and a dict lookup per call.
_stage_seconds = {stage: BATCH_SECONDS.labels(stage) for stage in STAGES}
# Every reason starts at zero, so rate() and alerts see the series before the first one.
_rejected = {reason: EVENTS_REJECTED.labels(reason) for reason in REJECTION_REASONS}


def record_batch(
    *,
    consumed: int,
    accepted: Sequence[datetime],
    duplicates: int,
    rejected_reasons: Iterable[str],
    board_outcomes: Iterable[str],
    stages: dict[str, float],
    applied_at: float,
) -> None:
    """Count one stored batch. `accepted` holds the created_at of each new event;
    `applied_at` (time.time()) is when its Redis apply ended; `stages` maps a stage name to
    its seconds."""
    EVENTS_CONSUMED.inc(consumed)
    EVENTS_ACCEPTED.inc(len(accepted))
    if duplicates:
        EVENTS_DUPLICATE.inc(duplicates)
    for reason, count in Tally(rejected_reasons).items():
        child = _rejected.get(reason) or EVENTS_REJECTED.labels(reason)
        child.inc(count)
    for outcome, count in Tally(board_outcomes).items():
        REDIS_BOARD_APPLIES.labels(outcome).inc(count)
    BATCH_SIZE.observe(consumed)
    for stage, seconds in stages.items():
        _stage_seconds[stage].observe(seconds)
    if "redis" in stages:
        REDIS_APPLY_SECONDS.observe(stages["redis"])
    # Clock skew between producer and consumer can make it slightly negative.
    FRESHNESS_SECONDS.observe_many(
        max(applied_at - created_at.timestamp(), 0.0) for created_at in accepted
    )


class StageClock:
    """Seconds per stage of one batch: `lap("store")` closes the stage that just ran."""

    __slots__ = ("last", "stages", "started")

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.stages: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.stages[stage] = now - self.last
        self.last = now

    def ran(self, stage: str, seconds: float) -> None:
        """A stage that ran elsewhere (the decoder thread), and the clock starts now."""
        self.stages[stage] = seconds
        self.started = self.last = time.perf_counter()

    def total(self) -> dict[str, float]:
        self.stages["total"] = self.last - self.started
        return self.stages


def record_lag(*, topic: str, lag: dict[int, int]) -> None:
    for partition, behind in lag.items():
        CONSUMER_LAG.labels(topic, str(partition)).set(behind)


def forget_lag(*, topic: str, partitions: Iterable[int]) -> None:
    """Drop the series of partitions this consumer no longer owns: another reports them."""
    for partition in partitions:
        with contextlib.suppress(KeyError):
            CONSUMER_LAG.remove(topic, str(partition))
