"""The ingestion benchmark behind `manage.py bench_ingest`.

Events go the whole real way: producer -> broker -> `manage.py consume_scores` (a separate
process, as in production) -> PostgreSQL -> Redis. Throughput is events over the time from
the first produce until the consumer's stored offsets cover every message. Freshness is
measured with probe events sent among the load at a steady pace: each probe is a player of
its own, and its freshness is the time from produce until Redis ranks that player.
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

from ingestion.fake import EventSource, format_time
from ingestion.kafka import ensure_topic, make_producer
from leaderboards.cache.builds import cache_build_board
from leaderboards.cache.store import get_store
from leaderboards.models import Board
from leaderboards.postgres.deltas import offsets_for_topic
from leaderboards.services import board_create

BASE_DIR = Path(__file__).resolve().parent.parent
PROBES_PER_SECOND = 20


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
                waiting = [p for p in self.sent if p not in self.seen]
            if waiting:
                page = store.ranks(self.board, waiting)
                now = time.perf_counter()
                with self.lock:
                    for standing in page.standings if page else ():
                        self.seen[standing.player_id] = now
            time.sleep(0.002)

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


def run_benchmark(
    *,
    events: int,
    rate: int,
    players: int,
    consumers: int,
    batch_size: int,
    report: Callable[[str], None],
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
    producer = make_producer(
        **{"linger.ms": 10, "batch.num.messages": 10_000, "queue.buffering.max.messages": 1_000_000}
    )
    encode = msgspec.json.Encoder().encode
    probes = _Probes(board)
    probes.thread.start()
    try:
        report(f"waiting for {consumers} consumer(s) to join group bench-{run}")
        warmup = probes.new()
        producer.produce(topic, encode(_event(warmup, metric, 1)), key=warmup.encode())
        producer.flush()
        probes.wait_all(timeout=120)
        with probes.lock:
            probes.sent.clear()
            probes.seen.clear()

        report(f"producing {events:,} events at {rate:,}/s over {players:,} players")
        source = EventSource(players=players, metric=metric, seed=7)
        started = time.perf_counter()
        probe_every = max(1, rate // PROBES_PER_SECOND)
        sent = 0
        chunk = max(1, rate // 100)
        while sent < events:
            batch = min(chunk, events - sent)
            for player, event in source.batch(batch, datetime.now(UTC)):
                while True:
                    try:
                        producer.produce(topic, encode(event), key=player.encode())
                        break
                    except BufferError:
                        producer.poll(0.01)
                sent += 1
                if sent % probe_every == 0:
                    probe = probes.new()
                    producer.produce(topic, encode(_event(probe, metric, 1)), key=probe.encode())
            producer.poll(0)
            ahead = started + sent / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
            if sent % (rate * 5) < batch:
                report(f"  produced {sent:,} ({sent / (time.perf_counter() - started):,.0f}/s)")
        producer.flush()
        total = sent + len(probes.sent) + 1  # + the warm-up probe
        report(f"produced {sent:,} events (+{len(probes.sent)} probes); waiting for the consumer")
        while sum(offsets_for_topic(topic=topic).values()) < total:
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        probes.wait_all(timeout=60)
        return BenchResult(events=total, seconds=seconds, freshness_ms=probes.latencies_ms())
    finally:
        probes.stopping = True
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
