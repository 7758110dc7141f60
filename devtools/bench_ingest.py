"""The ingestion benchmark behind `manage.py bench_ingest`.

Events go the whole real way: producer -> broker -> `manage.py consume_scores` (a separate
process, as in production) -> PostgreSQL -> Redis. Throughput is events over the time from
the first produce until the consumer's stored offsets cover every message. Freshness is
measured with probe events sent among the load at a steady pace: each probe is a player of
its own, and its freshness is the time from produce until Redis ranks that player.

The load is made and encoded before the clock starts (`prepare_events`), so that sending it
costs the producer a C call per event and the consumer is what is measured; the producer's
own rate, alone, is measured first (`measure_producer`).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import redis
from confluent_kafka import Producer
from django.conf import settings
from django.db import connection

from ingestion.fake import EventSource, format_time
from ingestion.kafka import ensure_topic, make_producer
from leaderboards.cache.builds import cache_build_board
from leaderboards.cache.store import get_store
from leaderboards.models import Board
from leaderboards.postgres.deltas import offsets_for_topic
from leaderboards.services import board_create

BASE_DIR = Path(__file__).resolve().parent.parent
PROBES_PER_SECOND = 20
WATCHED_PROBES = 50


@dataclass
class BenchResult:
    events: int
    seconds: float
    freshness_ms: list[float] = field(default_factory=list)

    @property
    def per_minute(self) -> float:
        return self.events / self.seconds * 60

    def percentile(self, q: float) -> float:
        if not self.freshness_ms:
            return float("nan")
        if len(self.freshness_ms) == 1:
            return self.freshness_ms[0]
        return statistics.quantiles(self.freshness_ms, n=1000, method="inclusive")[
            int(q * 1000) - 1
        ]


class _Probes:
    """Probe players sent among the load; a thread watches Redis for each to appear."""

    def __init__(self, board: Board) -> None:
        self.board = board
        self.sent: dict[str, float] = {}
        self.seen: dict[str, float] = {}
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def new(self) -> str:
        player = f"probe-{uuid.uuid4().hex[:12]}"
        with self.lock:
            self.sent[player] = time.perf_counter()
        return player

    def _watch(self) -> None:
        store = get_store()
        while not self.stopping:
            with self.lock:
                # The oldest few: asking Valkey for hundreds every few ms (a consumer far
                # behind) cost it more than the consumer's own work. A later probe seen
                # before them is timed a little late: the figure errs on the slow side.
                waiting = [p for p in self.sent if p not in self.seen][:WATCHED_PROBES]
            if waiting:
                page = store.ranks(self.board, waiting)
                now = time.perf_counter()
                with self.lock:
                    for standing in page.standings if page else ():
                        self.seen[standing.player_id] = now
            time.sleep(0.005)

    def wait_all(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.seen) == len(self.sent):
                    return
            time.sleep(0.01)
        raise TimeoutError("probe events never became visible in Redis")

    def latencies_ms(self) -> list[float]:
        with self.lock:
            return [(self.seen[p] - self.sent[p]) * 1000 for p in self.seen]


def _event(player: str, metric: str, delta: int) -> dict:
    return {
        "event_id": uuid.uuid4().hex,
        "player_id": player,
        "delta": delta,
        "metric": metric,
        "created_at": format_time(datetime.now(UTC)),
    }


class Profile:
    """What PostgreSQL (pg_stat_statements, which the command preloads with --profile) and
    Valkey (INFO commandstats) spent during the run, per event."""

    def start(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            cursor.execute("SELECT pg_stat_statements_reset(), pg_stat_reset_shared('wal')")
        self.redis = redis.Redis.from_url(settings.REDIS_URL)
        self.redis.config_resetstat()

    def report(self, events: int, report: Callable[[str], None]) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT calls, total_exec_time, left(regexp_replace(query, '\\s+', ' ', 'g'), 90)"
                " FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12"
            )
            rows = cursor.fetchall()
            cursor.execute("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal")
            records, full_pages, wal_bytes = cursor.fetchone()
        report(
            f"PostgreSQL WAL: {wal_bytes / events:,.0f} bytes per event, {records / events:.1f} "
            f"records and {full_pages / events:.2f} full-page images per event"
        )
        report("PostgreSQL, by statement (pg_stat_statements): µs per event, calls, statement")
        for calls, total_ms, query in rows:
            report(f"  {total_ms * 1000 / events:7.2f} {calls:8,} {query}")
        stats = self.redis.info("commandstats")
        report("Valkey, by command (INFO commandstats): µs per event, calls, command")
        by_time = sorted(stats.items(), key=lambda item: -item[1]["usec"])
        for name, stat in by_time[:8]:
            report(
                f"  {stat['usec'] / events:7.2f} {stat['calls']:8,} {name.removeprefix('cmdstat_')}"
            )


Payloads = list[tuple[bytes, bytes]]  # (key, value) of each event, encoded


def prepare_events(*, events: int, players: int, metric: str) -> Payloads:
    """The run's fake events (ingestion/fake.py), encoded, stamped now: made before the
    clock starts, so that the benchmark's producer costs little while it runs."""
    source = EventSource(players=players, metric=metric, seed=7)
    encode = msgspec.json.Encoder().encode
    payloads: Payloads = []
    while len(payloads) < events:
        batch = source.batch(min(10_000, events - len(payloads)), datetime.now(UTC))
        payloads += [(player.encode(), encode(event)) for player, event in batch]
    return payloads


def _producer() -> Producer:
    return make_producer(
        **{"linger.ms": 10, "batch.num.messages": 10_000, "queue.buffering.max.messages": 1_000_000}
    )


def _produce(producer: Producer, topic: str, key: bytes, value: bytes) -> None:
    while True:
        try:
            producer.produce(topic, value, key=key)
            return
        except BufferError:  # the local queue is full: let it drain
            producer.poll(0.01)


def measure_producer(payloads: Payloads, *, topic: str) -> float:
    """Events a second the benchmark's producer sends to the broker alone, unthrottled,
    with no consumer running (to a topic of its own)."""
    ensure_topic(topic=topic)
    producer = _producer()
    started = time.perf_counter()
    for key, value in payloads:
        _produce(producer, topic, key, value)
    producer.flush()
    return len(payloads) / (time.perf_counter() - started)


def run_benchmark(
    *,
    events: int,
    rate: int,
    players: int,
    consumers: int,
    batch_size: int,
    report: Callable[[str], None],
    profile: Profile | None = None,
) -> BenchResult:
    run = uuid.uuid4().hex[:8]
    topic, metric = f"bench-{run}", f"bench-{run}"
    ensure_topic(topic=topic)
    board = board_create(
        slug=f"bench-{run}",
        name=f"Benchmark {run}",
        metric=metric,
        starts_at=datetime(2000, 1, 1, tzinfo=UTC),
    )
    assert cache_build_board(board) == "ready"
    # The benchmark reads stored offsets, not metrics: its consumers serve none unless
    # CONSUMER_METRICS_PORT names a range for them (a single port fits one consumer).
    env = {
        **os.environ,
        "INGEST_BATCH_SIZE": str(batch_size),
        "CONSUMER_METRICS_PORT": os.environ.get("CONSUMER_METRICS_PORT") or "0",
    }
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "consume_scores",
                "--topic",
                topic,
                "--group",
                f"bench-{run}",
                "--report-every",
                "5",
            ],
            cwd=BASE_DIR,
            env=env,
        )
        for _ in range(consumers)
    ]
    producer = _producer()
    encode = msgspec.json.Encoder().encode
    probes = _Probes(board)
    probes.thread.start()
    try:
        report(f"preparing {events:,} events over {players:,} players")
        payloads = prepare_events(events=events, players=players, metric=metric)
        sample = payloads[: min(len(payloads), 200_000)]
        report(f"producer alone: {measure_producer(sample, topic=f'{topic}-alone'):,.0f} events/s")
        report(f"waiting for {consumers} consumer(s) to join group bench-{run}")
        warmup = probes.new()
        producer.produce(topic, encode(_event(warmup, metric, 1)), key=warmup.encode())
        producer.flush()
        probes.wait_all(timeout=120)
        with probes.lock:
            probes.sent.clear()
            probes.seen.clear()

        report(f"producing {events:,} events at {rate:,}/s")
        if profile:
            profile.start()
        started = time.perf_counter()
        probe_every = max(1, rate // PROBES_PER_SECOND)
        sent = 0
        chunk = max(1, rate // 100)
        while sent < events:
            for key, value in payloads[sent : sent + chunk]:
                _produce(producer, topic, key, value)
                sent += 1
                if sent % probe_every == 0:
                    probe = probes.new()
                    producer.produce(topic, encode(_event(probe, metric, 1)), key=probe.encode())
            producer.poll(0)
            ahead = started + sent / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
            if sent % (rate * 5) < chunk:
                report(f"  produced {sent:,} ({sent / (time.perf_counter() - started):,.0f}/s)")
        producer.flush()
        total = sent + len(probes.sent) + 1  # + the warm-up probe
        report(f"produced {sent:,} events (+{len(probes.sent)} probes); waiting for the consumer")
        while sum(offsets_for_topic(topic=topic).values()) < total:
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        probes.wait_all(timeout=60)
        if profile:
            profile.report(total, report)
        return BenchResult(events=total, seconds=seconds, freshness_ms=probes.latencies_ms())
    finally:
        probes.stopping = True
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
