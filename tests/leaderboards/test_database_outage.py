"""PostgreSQL down: reads of cached boards go on answering from Redis; what needs the
database answers 503 with Retry-After (never a 500), and /readyz says so. Also after a
consumer crash left a gap in a board's fences, past the build timeout."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from ingestion.kafka import ensure_topic, make_producer
from leaderboards.cache.builds import cache_build_board
from leaderboards.cache.store import BoardKeys
from leaderboards.models import Aggregation
from leaderboards.postgres.deltas import offsets_for_topic
from leaderboards.services import series_create, series_current_board
from players.models import Player
from tests.factories import BoardFactory, ScoreDeltaFactory
from tests.ingestion.kafka_helpers import consumer_process, stop, stored_count, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 1, 1, tzinfo=UTC)


def add_scores(board_metric: str, scores: dict[str, int], at: datetime) -> None:
    for player_id, delta in scores.items():
        ScoreDeltaFactory(
            player__external_id=player_id, metric=board_metric, delta=delta, created_at=at
        )


def cached_reads(client: Client) -> dict[str, object]:
    """Every read of a cached board, by name: the response."""
    return {
        "entries": client.get("/api/v1/leaderboards/cached/entries/?limit=10"),
        "rank": client.get("/api/v1/leaderboards/cached/players/p2/"),
        "around": client.get("/api/v1/leaderboards/cached/players/p2/?around=1"),
        "ranks": client.post(
            "/api/v1/leaderboards/cached/ranks/",
            {"player_ids": ["p3", "p1", "nobody"]},
            content_type="application/json",
        ),
        "board": client.get("/api/v1/leaderboards/cached/"),
        "page": client.get("/boards/cached/?player=p2"),
        "series": client.get("/api/v1/series/daily/current/entries/"),
    }


def needs_database(client: Client) -> dict[str, object]:
    return {
        "uncached entries": client.get("/api/v1/leaderboards/uncached/entries/"),
        "uncached page": client.get("/boards/uncached/"),
        "standings": client.get(f"/api/v1/standings/?from={START.isoformat()}".replace("+", "%2B")),
        "write": client.post(
            "/api/v1/leaderboards/",
            {"slug": "new", "name": "New", "starts_at": START.isoformat()},
            content_type="application/json",
            HTTP_AUTHORIZATION="Api-Key whatever",
        ),
    }


def check_cached_reads(responses: dict) -> None:
    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 200)
    entries = responses["entries"].json()
    assert entries["count"] == 3
    assert [
        (e["rank"], e["player_id"], e["display_name"], e["score"]) for e in entries["results"]
    ] == [
        (1, "p1", "Ada", 30),
        (2, "p2", "p2", 20),
        (2, "p3", "p3", 20),
    ]
    assert responses["rank"].json() == {
        "rank": 2,
        "player_id": "p2",
        "display_name": "p2",
        "score": 20,
    }
    assert [e["player_id"] for e in responses["around"].json()["around"]] == ["p1", "p2", "p3"]
    ranks = responses["ranks"].json()
    assert [e["player_id"] for e in ranks["results"]] == ["p1", "p3"]
    assert ranks["missing"] == ["nobody"]
    assert responses["board"].json()["slug"] == "cached"
    assert "Ada" in responses["page"].content.decode()
    assert [e["player_id"] for e in responses["series"].json()["results"]] == ["p1", "p2", "p3"]


def test_reads_of_cached_boards_survive_the_database_going_down(store, embedded_services):
    now = datetime.now(UTC)
    cached = BoardFactory(slug="cached", metric="score", starts_at=START, ends_at=None)
    BoardFactory(slug="uncached", metric="other", starts_at=START, ends_at=None)
    add_scores("score", {"p1": 30, "p2": 20, "p3": 20}, at=now - timedelta(minutes=1))
    for player in Player.objects.all():  # saved one by one: the names reach Redis
        player.display_name = "Ada" if player.external_id == "p1" else ""
        player.save()
    series = series_create(slug="daily", name="Daily", period="daily")
    assert cache_build_board(cached) == "ready"  # loads the display names too
    assert cache_build_board(series_current_board(series)) == "ready"
    client = Client()
    check_cached_reads(cached_reads(client))  # and the definitions are in the catalog

    connection.close()
    embedded_services.stop("postgres")
    try:
        # Under traffic for longer than a process keeps its copy of a definition (1 s),
        # so later reads take them from Redis's catalog.
        deadline = time.monotonic() + 2.5
        rounds = 0
        while time.monotonic() < deadline:
            check_cached_reads(cached_reads(client))
            rounds += 1
        assert rounds >= 2

        for name, response in needs_database(client).items():
            assert response.status_code == 503, name
            assert response["Retry-After"] == "5", name
            if name != "uncached page":
                assert response.json() == {
                    "detail": "The database is unavailable; try again shortly."
                }, name
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"]["ok"] is False
        assert ready.json()["checks"]["redis"]["ok"] is True
    finally:
        embedded_services.start("postgres")

    assert client.get("/api/v1/leaderboards/uncached/entries/").status_code == 200


class Traffic:
    """Score events into the topic at about `rate` a second from a thread, remembering what
    landed where: (partition, offset) -> (player, delta)."""

    def __init__(self, topic: str, rate: int = 1_000, players: int = 60) -> None:
        self.topic, self.rate, self.players = topic, rate, players
        self.delivered: dict[tuple[int, int], tuple[str, int]] = {}
        self._lock = threading.Lock()  # the producer's thread adds while the test reads
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        self._thread.join(30)

    def _run(self) -> None:
        producer = make_producer(**{"linger.ms": 5, "enable.idempotence": False})
        start = datetime.now(UTC) - timedelta(hours=1)
        i = 0
        while not self._stopping.is_set():
            for _ in range(self.rate // 20):
                player, delta = f"p{i % self.players}", (i * 7919) % 97 + 1
                at = (start + timedelta(milliseconds=i)).isoformat(timespec="milliseconds")
                value = (
                    f'{{"event_id":"{uuid.uuid4()}","player_id":"{player}","delta":{delta},'
                    f'"created_at":"{at.replace("+00:00", "Z")}"}}'
                )

                def delivered(err, message, event=(player, delta)) -> None:
                    if err is None:
                        with self._lock:
                            self.delivered[(message.partition(), message.offset())] = event

                producer.produce(
                    self.topic, value.encode(), key=player.encode(), on_delivery=delivered
                )
                i += 1
            producer.poll(0)
            time.sleep(0.05)
        producer.flush(10)

    def totals_below(self, fences: dict[int, int], combine) -> dict[str, int]:
        """Each player's score over the events below the fences (partition -> offset)."""
        totals: dict[str, int] = {}
        with self._lock:
            delivered = list(self.delivered.items())
        for (partition, offset), (player, delta) in delivered:
            if offset < fences.get(partition, -1):
                totals[player] = delta if player not in totals else combine(totals[player], delta)
        return totals


def owned_partitions(log: Path) -> set[int]:
    """The partitions a consumer holds now, from its "assigned partitions {0: -2, 3: 118}"
    and "revoked partitions [0, 3]" lines."""
    owned: set[int] = set()
    for kind, listed in re.findall(
        r"(assigned|revoked) partitions [{\[]([^}\]]*)", log.read_text()
    ):
        if kind == "assigned":
            owned |= {int(p) for p in re.findall(r"(\d+):", listed)}
        else:
            owned -= {int(p) for p in re.findall(r"\d+", listed)}
    return owned


def fences(redis_client, board) -> dict[int, int]:
    meta = redis_client.hgetall(BoardKeys.of(board.pk).meta)
    return {int(k[2:]): int(v) for k, v in meta.items() if k.startswith(b"p:")}


@pytest.mark.slow
def test_reads_of_cached_boards_survive_an_outage_after_a_consumer_crash(
    topic, store, redis_client, embedded_services, tmp_path, settings
):
    """Issue 19: a consumer killed between its commit and its Redis step leaves a gap that
    the partition's next owner finds, after a rebalance; PostgreSQL then goes down before
    anything rebuilt the boards, past the build timeout. Every read of the two cached boards
    during the outage is answered from Redis, with each board's last consistent state: the
    sum or max of exactly the events below its fences."""
    settings.LEADERBOARD_BUILD_TIMEOUT_SECONDS = 1
    since = datetime(2020, 1, 1, tzinfo=UTC)
    total = BoardFactory(slug="all", metric="score", starts_at=since, ends_at=None)
    best = BoardFactory(
        slug="best", metric="score", starts_at=since, ends_at=None, aggregation=Aggregation.MAX
    )
    boards = {total: lambda a, b: a + b, best: max}
    ensure_topic(topic=topic)
    logs = [tmp_path / f"consumer-{n}.log" for n in range(3)]
    env = {"LEADERBOARD_BUILD_TIMEOUT_SECONDS": "1"}
    consumers = [
        consumer_process(
            topic, f"group-{topic}", env=env, stdout=subprocess.DEVNULL, stderr=log.open("w")
        )
        for log in logs
    ]
    client = Client()
    try:
        with Traffic(topic) as traffic:
            wait_for(lambda: set().union(*map(owned_partitions, logs)) == set(range(6)), 120)
            wait_for(lambda: stored_count() >= 2_000, 60, message="traffic stored")
            for board in boards:
                assert cache_build_board(board) == "ready"
                # read once: the definition reaches the catalog, as any read puts it there
                assert client.get(f"/api/v1/leaderboards/{board.slug}/entries/").status_code == 200
            time.sleep(1.5)  # past the build timeout

            # Hold every Redis write until one consumer has committed a batch, and kill it
            # there: the batch is in PostgreSQL and will never reach Redis.
            before = offsets_for_topic(topic=topic)
            redis_client.execute_command("CLIENT", "PAUSE", "5000", "WRITE")
            try:
                wait_for(lambda: offsets_for_topic(topic=topic) != before, 4, interval=0.01)
                moved = {p for p, n in offsets_for_topic(topic=topic).items() if before.get(p) != n}
                victim = next(n for n, log in enumerate(logs) if owned_partitions(log) & moved)
                consumers[victim].kill()
                consumers[victim].wait(10)
                # and another leaves, so the group rebalances while the victim's
                # partitions are handed over
                consumers[(victim + 1) % 3].send_signal(signal.SIGTERM)
            finally:
                redis_client.execute_command("CLIENT", "UNPAUSE")
            wait_for(
                lambda: all(store.state(board) != "ready" for board in boards),
                60,
                message="the new owner's batch meets the gap",
            )

            connection.close()
            embedded_services.stop("postgres")
            try:
                statuses: Counter = Counter()
                deadline = time.monotonic() + 3
                while time.monotonic() < deadline:
                    for board, combine in boards.items():
                        expected = traffic.totals_below(fences(redis_client, board), combine)
                        # A player the frozen board holds (the freeze may come early in
                        # the traffic, before every player has scored).
                        player = min(expected, default="p7")
                        entries = client.get(
                            f"/api/v1/leaderboards/{board.slug}/entries/?limit=100"
                        )
                        around = client.get(
                            f"/api/v1/leaderboards/{board.slug}/players/{player}/?around=2"
                        )
                        statuses.update([entries.status_code, around.status_code])
                        if entries.status_code != 200:
                            continue
                        body = entries.json()
                        assert body["count"] == len(expected)
                        assert {e["player_id"]: e["score"] for e in body["results"]} == expected
                        if around.status_code == 200:
                            for entry in around.json()["around"]:
                                assert entry["score"] == expected[entry["player_id"]]
                assert statuses == {200: statuses.total()}, statuses
            finally:
                embedded_services.start("postgres")

            def rebuilt() -> bool:  # reads of a stale board rebuild it in the background
                for board in boards:
                    assert client.get(f"/api/v1/leaderboards/{board.slug}/").status_code == 200
                    client.get(f"/api/v1/leaderboards/{board.slug}/entries/")
                return all(store.state(board) == "ready" for board in boards)

            wait_for(rebuilt, 30, interval=0.5, message="the boards rebuilt")
    finally:
        for process in consumers:
            stop(process, timeout=30)
