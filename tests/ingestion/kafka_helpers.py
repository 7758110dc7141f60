"""Producing test traffic and running the consumer against the real broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from devtools.embedded.processes import child_setup
from ingestion.consumer import BatchResult, ScoreConsumer
from ingestion.kafka import ensure_topic, make_producer

BASE_DIR = Path(__file__).resolve().parents[2]


# topic -> partition -> the offset after the last message `produce` sent there, from the
# broker's delivery reports (Tansu's watermark query answers too low to be asked instead).
_produced_ends: dict[str, dict[int, int]] = {}


def produce(messages: Iterable[tuple[bytes | None, bytes | None]], topic: str) -> int:
    """Send raw (key, value) messages and wait until the broker has them all."""
    ensure_topic(topic=topic)
    # A new producer per call: with idempotence each would first wait for a producer id,
    # which Tansu grants slowly (a test producing in bursts took 19 s instead of 11).
    # Idempotence has tests of its own (test_kafka.py); these messages are sent once.
    producer = make_producer(**{"linger.ms": 5, "enable.idempotence": False})
    ends = _produced_ends.setdefault(topic, {})

    def delivered(err, message) -> None:
        if err is None:
            ends[message.partition()] = max(ends.get(message.partition(), 0), message.offset() + 1)

    count = 0
    for key, value in messages:
        producer.produce(topic, value, key=key, on_delivery=delivered)
        count += 1
        if count % 10_000 == 0:
            producer.flush()
    assert producer.flush(30) == 0, "broker did not take every test message"
    return count


def score_events(count: int, players: int = 50, start: datetime | None = None):
    """Deterministic valid events: (key, value, player_id, delta)."""
    start = start or datetime.now(UTC) - timedelta(hours=1)
    for i in range(count):
        player = f"p{i % players}"
        delta = (i * 7919) % 100 + 1
        at = start + timedelta(milliseconds=i)
        value = (
            f'{{"event_id":"{uuid.uuid4()}","player_id":"{player}","delta":{delta},'
            f'"created_at":"{at.isoformat(timespec="milliseconds").replace("+00:00", "Z")}"}}'
        ).encode()
        yield player.encode(), value, player, delta


def expected_totals(events) -> Counter:
    totals: Counter = Counter()
    for _key, _value, player, delta in events:
        totals[player] += delta
    return totals


def consume_until_idle(topic: str, idle: float = 3.0, **kwargs) -> list[BatchResult]:
    """Run a consumer until it has stored everything `produce` sent to the topic, or until
    nothing came for `idle` seconds (messages that came another way, or none at all)."""
    ends = dict(_produced_ends.get(topic, {}))
    results: list[BatchResult] = []

    def on_batch(result: BatchResult) -> None:
        results.append(result)
        if ends and all(consumer.positions.get(p, 0) >= end for p, end in ends.items()):
            consumer.stop()

    consumer = ScoreConsumer(topic=topic, batch_timeout=0.5, on_batch=on_batch, **kwargs)
    consumer.run(max_idle_seconds=idle)
    return results


def consumer_process(
    topic: str, group: str, *args: str, env: dict[str, str] | None = None, **popen
) -> subprocess.Popen:
    """`manage.py consume_scores` in a child process against the test database; `args` go
    on its command line, `env` over its environment. It is stopped (SIGINT) when the test's
    process dies: a pytest killed, or timed out by its parent, must not leave it running."""
    db = settings.DATABASES["default"]
    credentials = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "KAFKA_BOOTSTRAP_SERVERS": settings.KAFKA_BOOTSTRAP_SERVERS,
        "INGEST_BATCH_SIZE": "500",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **(env or {}),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "consume_scores",
            "--topic",
            topic,
            "--group",
            group,
            "--report-every",
            "1",
            *args,
        ],
        cwd=BASE_DIR,
        env=env,
        **{"preexec_fn": child_setup("consumer", None), **popen},
    )


def stop(process: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 30) -> int:
    """Its exit code once `sig` has stopped it; killed (and the test failed) if it has not
    within `timeout`."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def wait_for(predicate, timeout: float = 60, interval: float = 0.2, message: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)


def stored_totals(metric: str = "score") -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.external_id, SUM(d.delta) FROM leaderboards_scoredelta d"
            " JOIN players_player p ON p.id = d.player_id WHERE d.metric = %s"
            " GROUP BY p.external_id",
            [metric],
        )
        return {player: int(total) for player, total in cursor.fetchall()}


def stored_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM leaderboards_scoredelta")
        return cursor.fetchone()[0]
