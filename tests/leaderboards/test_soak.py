"""Soak: the real consumer under a steady stream of events for longer than every timeout,
expiry and staleness in the system, with cached boards of every aggregation read all the
while and held to PostgreSQL and to a reference computed here.

The windows are shortened through settings (the consumer process through its environment):
the build timeout (2 s), the catalog's and the consumer's copies of definitions, the web's
micro-cache, and the cache sync, run every second beside the readers as Celery beat would.
Boards are built with scores in them, and one is dropped at each checkpoint so that it is
built again under traffic. A board whose Redis copy loses scores, drifts, carries an
expiry or stops being served from Redis fails it: before the fix of finish_build.lua,
every set vanished 2 s after its build.
"""

from __future__ import annotations

import json
import logging
import random
import subprocess
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client

from ingestion.kafka import ensure_topic, make_producer
from leaderboards.cache.builds import cache_drop_board
from leaderboards.cache.store import BoardKeys
from leaderboards.cache.sync import cache_sync
from leaderboards.models import Aggregation, SortOrder, TieBreak
from leaderboards.postgres.standings import standings_page
from leaderboards.ranking import Window
from tests.factories import BoardFactory
from tests.ingestion.kafka_helpers import consumer_process, stop, stored_count, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BUILD_TIMEOUT_SECONDS = 2
CATALOG_MAX_AGE_MS = 300
CONSUMER_BOARDS_MAX_AGE_MS = 300
RESPONSE_CACHE_MS = 200
SYNC_SECONDS = 1.0
# Longer than every window above many times over: the build timeout 7 times.
SOAK_SECONDS = 7 * BUILD_TIMEOUT_SECONDS
PLAYERS = 40
RATE = 300  # events a second
CHECKPOINTS = 5  # at the least

# (slug, aggregation, sort order, tie-break): every operator, both orders, both tie-breaks.
BOARDS = [
    ("soak-sum", Aggregation.SUM, SortOrder.DESC, TieBreak.PLAYER_ID),
    ("soak-max", Aggregation.MAX, SortOrder.DESC, TieBreak.PLAYER_ID),
    ("soak-min", Aggregation.MIN, SortOrder.ASC, TieBreak.PLAYER_ID),
    ("soak-last", Aggregation.LAST, SortOrder.DESC, TieBreak.PLAYER_ID),
    ("soak-earliest", Aggregation.SUM, SortOrder.DESC, TieBreak.EARLIEST),
]


class Reference:
    """Every board's scores from the events sent, computed the obvious way."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, int]] = []  # player, delta, epoch ms
        self.lock = threading.Lock()

    def add(self, player: str, delta: int, at_ms: int) -> None:
        with self.lock:
            self.events.append((player, delta, at_ms))

    def scores(self, aggregation: str) -> dict[str, int]:
        with self.lock:
            events = list(self.events)
        by_player: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for player, delta, at_ms in events:
            by_player[player].append((at_ms, delta))
        combine = {
            Aggregation.SUM: lambda rows: sum(d for _, d in rows),
            Aggregation.MAX: lambda rows: max(d for _, d in rows),
            Aggregation.MIN: lambda rows: min(d for _, d in rows),
            Aggregation.LAST: lambda rows: max(rows)[1],
        }[aggregation]
        return {player: combine(rows) for player, rows in by_player.items()}


class Producer(threading.Thread):
    """A steady stream of valid events at RATE a second, each stamped with a later
    millisecond than the one before (so `last` has one answer), until paused or stopped."""

    def __init__(self, topic: str, reference: Reference) -> None:
        super().__init__(daemon=True)
        self.topic, self.reference = topic, reference
        self.producer = make_producer(**{"linger.ms": 5, "enable.idempotence": False})
        self.running = threading.Event()
        self.stopped = threading.Event()
        self.sent = 0
        self.errors: list[str] = []
        self.random = random.Random(7)
        self.last_ms = 0

    def run(self) -> None:
        while not self.stopped.is_set():
            if not self.running.wait(0.05):
                continue
            started = time.monotonic()
            for _ in range(RATE // 20):
                self._send_one()
            self.producer.poll(0)
            time.sleep(max(0.0, 0.05 - (time.monotonic() - started)))

    def _send_one(self) -> None:
        player = f"p{self.random.randrange(PLAYERS):02d}"
        delta = self.random.randint(1, 1_000)
        self.last_ms = max(int(time.time() * 1000), self.last_ms + 1)
        at = datetime.fromtimestamp(self.last_ms / 1000, UTC)
        value = json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "player_id": player,
                "delta": delta,
                "created_at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            }
        ).encode()
        self.producer.produce(self.topic, value, key=player.encode(), on_delivery=self._delivered)
        self.reference.add(player, delta, self.last_ms)
        self.sent += 1

    def _delivered(self, err, _message) -> None:
        if err is not None:
            self.errors.append(str(err))

    def pause(self) -> None:
        """Stop sending and wait until the broker holds everything sent."""
        self.running.clear()
        time.sleep(0.1)  # a send loop in progress finishes
        assert self.producer.flush(30) == 0
        assert not self.errors, self.errors


class Syncer(threading.Thread):
    """The cache-sync task every SYNC_SECONDS, as Celery beat runs it."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stopped = threading.Event()
        self.drifted: list[str] = []
        self.runs = 0
        self.failures: list[BaseException] = []

    def run(self) -> None:
        try:
            while not self.stopped.wait(SYNC_SECONDS):
                report = cache_sync()
                self.drifted += report.drifted
                self.runs += 1
        except BaseException as exc:  # the test asserts there was none
            self.failures.append(exc)
        finally:
            connection.close()


class DriftLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def entries(client: Client, slug: str) -> list[tuple[int, str, int]]:
    response = client.get(f"/api/v1/leaderboards/{slug}/entries/?limit=100")
    assert response.status_code == 200, (slug, response.content[:300])
    return [(e["rank"], e["player_id"], e["score"]) for e in response.json()["results"]]


def database_entries(board) -> list[tuple[int, str, int]]:
    page = standings_page(Window.of_board(board), offset=0, limit=100)
    return [(s.rank, s.player_id, s.score) for s in page.standings]


def check_monotonic(seen: dict, slug: str, aggregation: str, rows) -> None:
    """What a steady stream of positive deltas can never do to a board between two reads:
    lose a player, or move a sum's or a max's score down (a min's up)."""
    scores = {player: score for _rank, player, score in rows}
    before = seen.get(slug, {})
    assert set(before) <= set(scores), f"{slug} lost players {set(before) - set(scores)}"
    for player, score in scores.items():
        old = before.get(player)
        if old is None or aggregation == Aggregation.LAST:
            continue
        if aggregation == Aggregation.MIN:
            assert score <= old, f"{slug}: {player} went from {old} to {score}"
        else:
            assert score >= old, f"{slug}: {player} went from {old} to {score}"
    seen[slug] = scores


def test_cached_boards_stay_right_past_every_timeout(topic, redis_client, settings):
    settings.LEADERBOARD_BUILD_TIMEOUT_SECONDS = BUILD_TIMEOUT_SECONDS
    settings.LEADERBOARD_CATALOG_MAX_AGE_MS = CATALOG_MAX_AGE_MS
    settings.LEADERBOARD_CONSUMER_BOARDS_MAX_AGE_MS = CONSUMER_BOARDS_MAX_AGE_MS
    settings.LEADERBOARD_RESPONSE_CACHE_MS = RESPONSE_CACHE_MS
    settings.LEADERBOARD_CACHE_SYNC_SECONDS = SYNC_SECONDS
    starts = datetime.now(UTC) - timedelta(days=1)
    boards = {
        slug: BoardFactory(
            slug=slug, starts_at=starts, aggregation=agg, sort_order=order, tie_break=tie
        )
        for slug, agg, order, tie in BOARDS
    }
    ensure_topic(topic=topic)
    reference = Reference()
    producer = Producer(topic, reference)
    syncer = Syncer()
    drift_log = DriftLog()
    logging.getLogger("leaderboards.cache.sync").addHandler(drift_log)
    consumer = consumer_process(
        topic,
        f"group-{topic}",
        env={
            "LEADERBOARD_BUILD_TIMEOUT_SECONDS": str(BUILD_TIMEOUT_SECONDS),
            "LEADERBOARD_CONSUMER_BOARDS_MAX_AGE_MS": str(CONSUMER_BOARDS_MAX_AGE_MS),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = Client()
    seen: dict[str, dict[str, int]] = {}
    checkpoints = reads = 0
    try:
        producer.start()
        producer.running.set()
        time.sleep(1)  # the boards are first built with scores in them
        producer.pause()
        wait_for(lambda: stored_count() == producer.sent, timeout=60, message="the consumer")
        syncer.start()
        producer.running.set()
        started = time.monotonic()
        while time.monotonic() - started < SOAK_SECONDS or checkpoints < CHECKPOINTS:
            # Traffic, with every board read all the while.
            burst_ends = time.monotonic() + 1.5
            while time.monotonic() < burst_ends:
                for slug, aggregation, _order, _tie in BOARDS:
                    check_monotonic(seen, slug, aggregation, entries(client, slug))
                    reads += 1
            # A checkpoint: the consumer catches up, then Redis, the API, PostgreSQL and
            # the reference agree on every board.
            producer.pause()
            wait_for(lambda: stored_count() == producer.sent, timeout=60, message="the consumer")
            time.sleep(RESPONSE_CACHE_MS / 1000 + 0.1)  # the Redis apply, the micro-cache
            for slug, aggregation, _order, _tie in BOARDS:
                board = boards[slug]
                expected = reference.scores(aggregation)
                rows = entries(client, slug)
                assert {player: score for _r, player, score in rows} == expected, slug
                assert rows == database_entries(board), slug
                assert len(rows) == len(expected) == PLAYERS, slug
                check_monotonic(seen, slug, aggregation, rows)
            # Every board is served from Redis, whose copy is still whole.
            states = {
                slug: redis_client.hget(f"lb:{{{b.pk}}}:meta", "state")
                for slug, b in boards.items()
            }
            assert states == dict.fromkeys(boards, b"ready")
            for board in boards.values():
                keys = BoardKeys.of(board.pk)
                for key in (keys.meta, keys.zset, keys.times):  # a ready board's own keys
                    assert redis_client.pttl(key) in (-1, -2), f"{key!r} carries an expiry"
            checkpoints += 1
            # One board in turn is dropped: the next reads build it again under traffic.
            slug = BOARDS[checkpoints % len(BOARDS)][0]
            cache_drop_board(boards[slug].pk)
            producer.running.set()
    finally:
        producer.stopped.set()
        syncer.stopped.set()
        syncer.join(10)
        logging.getLogger("leaderboards.cache.sync").removeHandler(drift_log)
        assert stop(consumer) == 0
    assert time.monotonic() - started > 5 * BUILD_TIMEOUT_SECONDS
    assert reads >= 50
    assert producer.sent >= RATE * 4
    assert not syncer.failures
    assert syncer.runs >= SOAK_SECONDS / 2
    assert syncer.drifted == []
    assert [m for m in drift_log.messages if "drift" in m] == []
