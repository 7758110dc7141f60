"""The push benchmark behind `manage.py bench_push`.

One board, fed through Kafka and the real consumer at a steady rate (feed.py), and for
each stream server measured (servers.py: `manage.py serve_streams --server ...`) S
subscribers on one server process, held by subscriber processes of their own (client.py).
With every subscriber connected, for `duration` seconds: the delivery lag of each state
of the board's top N, from the consumer's Redis apply to each subscriber's receipt; the
server's resident memory per subscriber (its growth from before the first subscriber
to all of them connected, over S); and the CPU the server and the subscribers used.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from devtools.bench_push.client import raise_open_file_limit
from devtools.bench_push.errors import BenchFailed
from devtools.bench_push.feed import HEAD_START, ApplyTimes, Feed
from devtools.bench_push.servers import PRODUCTION, stream_server, usage
from devtools.web_server import web_database_url
from ingestion.kafka import ensure_topic
from leaderboards.cache.builds import cache_build_board
from leaderboards.models import Board
from leaderboards.services import board_create

SETTLE_SECONDS = 2.0  # after connecting, and again before the receipts are collected
KIB = 1024


@dataclass(frozen=True)
class Result:
    server: str
    subscribers: int
    connect_seconds: float
    lags_ms: list[float]  # sorted
    states: int  # states of the top N applied in the window (one a consumer batch)
    kib_per_subscriber: float
    rss_before: int
    rss_after: int
    server_cpu: float  # share of one core over the window
    subscribers_cpu: float  # share of one core, all subscriber processes together

    def percentile(self, q: float) -> float:
        if not self.lags_ms:
            return math.nan
        return self.lags_ms[min(len(self.lags_ms) - 1, math.ceil(q * len(self.lags_ms)) - 1)]

    def lines(self) -> list[str]:
        share = len(self.lags_ms) / max(1, self.states * self.subscribers)
        return [
            f"{self.server}: {self.subscribers:,} subscribers connected in"
            f" {self.connect_seconds:.1f} s; {len(self.lags_ms):,} deliveries of"
            f" {self.states} states ({share:.0%}; a subscriber skips the states that came"
            " while it was being written to)",
            f"{self.server}: lag p50 {self.percentile(0.5):.0f} ms, p99"
            f" {self.percentile(0.99):.0f} ms, max {self.percentile(1):.0f} ms;"
            f" {self.kib_per_subscriber:.1f} KiB per subscriber (RSS"
            f" {self.rss_before / KIB / KIB:.0f} -> {self.rss_after / KIB / KIB:.0f} MiB);"
            f" CPU: server {self.server_cpu:.0%} of a core, subscribers {self.subscribers_cpu:.0%}",
        ]

    def headline(self) -> str:
        return (
            f"push: {self.subscribers:,} subscribers, lag p50 {self.percentile(0.5):.0f} ms,"
            f" p99 {self.percentile(0.99):.0f} ms, {self.kib_per_subscriber:.1f} KiB per"
            " subscriber"
        )


@dataclass
class Bench:
    board: Board
    topic: str
    consumer: subprocess.Popen
    feed: Feed
    applied: ApplyTimes


def _start(*, rate: int, report: Callable[[str], None]) -> Bench:
    run = uuid.uuid4().hex[:8]
    topic = metric = f"bench-push-{run}"
    ensure_topic(topic=topic)
    board = board_create(
        slug=topic,
        name=f"Push benchmark {run}",
        metric=metric,
        starts_at=datetime(2000, 1, 1, tzinfo=UTC),
    )
    if cache_build_board(board) != "ready":
        raise BenchFailed("the board could not be built in Redis")
    env = {
        **os.environ,
        # This process's database (under pytest, the test one), as the servers get it.
        "DATABASE_URL": web_database_url(),
        "CONSUMER_METRICS_PORT": "0",
        "LOG_LEVEL": "WARNING",
    }
    consumer = subprocess.Popen(
        [sys.executable, "manage.py", "consume_scores", "--topic", topic, "--group", topic],
        cwd=settings.BASE_DIR,
        env=env,
    )
    feed = Feed(topic, metric, rate=rate)
    applied = ApplyTimes(board)
    applied.start()
    report(f"feeding board {board.slug!r}: {rate:,} events/s, the leader gaining a point every")
    report("  step (10 a second), through Kafka and the consumer (its batches, 200 ms)")
    feed.head_start()
    deadline = time.monotonic() + 120
    while (applied.pacer_score() or 0) < HEAD_START:
        if consumer.poll() is not None or time.monotonic() > deadline:
            raise BenchFailed("the consumer did not apply the board's first events")
        time.sleep(0.2)
    feed.start()
    return Bench(board, topic, consumer, feed, applied)


def _stop(bench: Bench) -> None:
    bench.feed.stopping.set()
    bench.applied.stopping.set()
    bench.feed.join(30)
    bench.consumer.terminate()
    try:
        bench.consumer.wait(30)
    except subprocess.TimeoutExpired:
        bench.consumer.kill()
        bench.consumer.wait()


def _warm(port: int, path: str) -> None:
    """One stream opened and closed: the server's imports, hub and first read are done
    before its memory is measured."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as stream:
        while b"data:" not in stream.readline():
            pass


def _clients(port: int, path: str, subscribers: int, processes: int, scratch: Path) -> list:
    """The subscriber processes, `subscribers` shared among them, and their receipt files."""
    counts = [subscribers // processes + (i < subscribers % processes) for i in range(processes)]
    held = []
    for i, count in enumerate(c for c in counts if c):
        out = scratch / f"receipts-{i}.bin"
        argv = [
            sys.executable, "-m", "devtools.bench_push.client",
            "--port", str(port), "--path", path, "--subscribers", str(count), "--out", str(out),
        ]  # fmt: skip
        client = subprocess.Popen(
            argv, cwd=settings.BASE_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        held.append((client, out))
    return held


def measure(
    bench: Bench,
    server: str,
    *,
    subscribers: int,
    clients: int,
    duration: float,
    limit: int,
    log: Path,
    report: Callable[[str], None],
) -> Result:
    """S subscribers on `server`, measured over `duration` seconds."""
    path = f"/api/v1/leaderboards/{bench.board.slug}/stream/?limit={limit}"
    env = {"STREAM_MAX_PER_CLIENT": str(subscribers + 100)}
    with (
        stream_server(server, connections=subscribers, env=env, log=log) as (port, process),
        tempfile.TemporaryDirectory(prefix="bench-push-") as scratch,
    ):
        _warm(port, path)
        time.sleep(1)
        before = usage(process.pid)
        started = time.monotonic()
        held = _clients(port, path, subscribers, clients, Path(scratch))
        try:
            connected = failed = 0
            for client, _ in held:
                line = client.stdout.readline().split()
                if line[:1] != ["connected"]:
                    raise BenchFailed(
                        f"a subscriber process failed: {' '.join(line) or 'no output'}"
                    )
                connected += int(line[1])
                failed += int(line[3])
            connect_seconds = time.monotonic() - started
            report(f"{server}: {connected:,} subscribers connected, {failed:,} failed")
            if failed:
                raise BenchFailed(f"{server}: {failed:,} of {subscribers:,} subscribers failed")
            time.sleep(SETTLE_SECONDS)
            window_start, cpu_start = time.time(), usage(process.pid).cpu_seconds
            time.sleep(duration)
            window_end, after = time.time(), usage(process.pid)
            time.sleep(SETTLE_SECONDS)
            subscribers_cpu = 0.0
            receipts = array("d")
            for client, out in held:
                client.stdin.write("stop\n")
                client.stdin.flush()
                line = client.stdout.readline().split()
                subscribers_cpu += float(line[1]) if line[:1] == ["cpu"] else 0.0
                client.wait(30)
                with out.open("rb") as data:
                    receipts.frombytes(data.read())
        finally:
            for client, _ in held:
                if client.poll() is None:
                    client.kill()
                    client.wait()
    applied = dict(bench.applied.applied)
    window = {step: at for step, at in applied.items() if window_start <= at <= window_end}
    lags = sorted(
        (receipts[i + 1] - window[int(receipts[i]) - HEAD_START]) * 1000
        for i in range(0, len(receipts), 2)
        if int(receipts[i]) - HEAD_START in window
    )
    elapsed = window_end - window_start
    return Result(
        server=server,
        subscribers=connected,
        connect_seconds=connect_seconds,
        lags_ms=lags,
        states=len(set(window.values())),
        kib_per_subscriber=(after.rss_bytes - before.rss_bytes) / KIB / connected,
        rss_before=before.rss_bytes,
        rss_after=after.rss_bytes,
        server_cpu=(after.cpu_seconds - cpu_start) / elapsed,
        subscribers_cpu=subscribers_cpu / (elapsed + connect_seconds + 3 * SETTLE_SECONDS),
    )


def run_benchmark(
    *,
    subscribers: int,
    servers: list[str],
    clients: int,
    duration: float,
    rate: int,
    limit: int,
    log_dir: Path,
    report: Callable[[str], None],
) -> str:
    """Every server in `servers` measured in turn on one fed board; a report of each, and
    returns the headline: serve_streams' server (or the first measured)."""
    limit_files = raise_open_file_limit()
    if limit_files < subscribers + 1024:
        raise BenchFailed(
            f"the open-file limit is {limit_files:,}: too low for {subscribers:,} subscribers"
            " (ulimit -Hn)"
        )
    bench = _start(rate=rate, report=report)
    results: dict[str, Result] = {}
    try:
        for server in servers:
            report(f"{server}: {subscribers:,} subscribers, {clients} subscriber processes")
            result = measure(
                bench,
                server,
                subscribers=subscribers,
                clients=clients,
                duration=duration,
                limit=limit,
                log=log_dir / f"{server}.log",
                report=report,
            )
            results[server] = result
            for line in result.lines():
                report(line)
    finally:
        _stop(bench)
    headline = results.get(PRODUCTION) or next(iter(results.values()))
    return headline.headline()
