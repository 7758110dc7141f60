"""Fake score traffic for demos, load tests and benchmarks.

Activity is skewed the way real games are: player ids are ranked by a Zipf-like weight
(rank k is picked with weight 1/k^s), so a handful of players produce most events and a
long tail shows up now and then. Deltas are positive, mostly small, with the occasional
big win. Every event follows the contract of ingestion/events.py.

- `fake_events()` yields events as fast as it can (benchmarks, tests);
- `FakeTraffic` sends them to Kafka at a steady rate (`manage.py produce_fake_events`).
"""

from __future__ import annotations

import itertools
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import KafkaError
from django.conf import settings

from ingestion.kafka import ensure_topic, make_producer, produce_events
from ingestion.traffic import DELTA_BANDS, PLAYER_SKEW

CHUNK = 1_000
# How often an event repeats its player's name after the first: a game server sends the
# name when it changes or now and then, not with every score (each one costs the consumer
# a row update).
NAME_EVERY = 100

_NAME_FIRST = [
    "Swift",
    "Brave",
    "Lucky",
    "Silent",
    "Crimson",
    "Golden",
    "Frosty",
    "Wild",
    "Clever",
    "Mighty",
    "Shadow",
    "Cosmic",
    "Rusty",
    "Sunny",
    "Stormy",
    "Jolly",
    "Nimble",
    "Fierce",
    "Quiet",
    "Electric",
]
_NAME_SECOND = [
    "Otter",
    "Falcon",
    "Badger",
    "Comet",
    "Tiger",
    "Panda",
    "Raven",
    "Wolf",
    "Gecko",
    "Lynx",
    "Phoenix",
    "Walrus",
    "Koala",
    "Viper",
    "Moose",
    "Heron",
    "Yak",
    "Dingo",
    "Mantis",
    "Orca",
]


def fake_display_name(player_id: str) -> str:
    """A plausible gamer tag for a fake player, the same every time: "LuckyOtter17"."""
    number = int(player_id.removeprefix("p"))
    first = _NAME_FIRST[number % len(_NAME_FIRST)]
    second = _NAME_SECOND[(number // len(_NAME_FIRST)) % len(_NAME_SECOND)]
    return f"{first}{second}{number % 100}"


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as producers are asked to send it."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class EventSource:
    """Draws players and deltas; the weights are computed once per population."""

    def __init__(self, *, players: int, metric: str = "score", seed: int | None = None) -> None:
        if players < 1:
            raise ValueError("players must be at least 1")
        self.metric = metric
        self.rng = random.Random(seed)
        # Who the busy players are depends only on the population size, so they stay the
        # same across restarts of the faker and the demo boards keep their regulars.
        self.player_ids = [f"p{n}" for n in range(1, players + 1)]
        random.Random(players).shuffle(self.player_ids)
        self.cum_weights = list(
            itertools.accumulate(1 / rank**PLAYER_SKEW for rank in range(1, players + 1))
        )
        self.delta_cum = list(itertools.accumulate(p for p, _, _ in DELTA_BANDS))
        self.named: set[str] = set()  # players whose name this source has sent

    def delta(self) -> int:
        rng = self.rng
        draw = rng.random() * self.delta_cum[-1]
        for limit, (_, low, high) in zip(self.delta_cum, DELTA_BANDS, strict=True):
            if draw < limit:
                return rng.randint(low, high)
        return rng.randint(DELTA_BANDS[-1][1], DELTA_BANDS[-1][2])

    def batch(self, count: int, at: datetime) -> list[tuple[str, dict]]:
        """`count` (player_id, event) pairs, all stamped `at`."""
        stamp = format_time(at)
        players = self.rng.choices(self.player_ids, cum_weights=self.cum_weights, k=count)
        getrandbits = self.rng.getrandbits
        events = []
        for player_id in players:
            event = {
                # From the seeded generator, so a seeded run is reproducible.
                "event_id": str(uuid.UUID(int=getrandbits(128), version=4)),
                "player_id": player_id,
                "delta": self.delta(),
                "metric": self.metric,
                "created_at": stamp,
            }
            if player_id not in self.named or getrandbits(32) % NAME_EVERY == 0:
                event["display_name"] = fake_display_name(player_id)
                self.named.add(player_id)
            events.append((player_id, event))
        return events


def fake_events(
    count: int,
    players: int,
    metric: str = "score",
    now: datetime | None = None,
    seed: int | None = None,
) -> Iterator[tuple[str, dict]]:
    """`count` (player_id, event) pairs, unpaced. Events are stamped `now`, or the clock
    (read once per thousand events) when it is None."""
    source = EventSource(players=players, metric=metric, seed=seed)
    left = count
    while left > 0:
        size = min(CHUNK, left)
        yield from source.batch(size, now or datetime.now(UTC))
        left -= size


@dataclass
class TrafficStats:
    sent: int = 0
    errors: int = 0
    last_error: str = ""
    undelivered: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return self.sent / max(self.elapsed, 1e-9)


class FakeTraffic:
    """Sends fake events at `rate` per second until stopped or `duration` has passed."""

    def __init__(
        self,
        *,
        rate: float = 200,
        players: int = 10_000,
        metric: str = "score",
        topic: str | None = None,
        duration: float | None = None,
        seed: int | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.topic = topic or settings.KAFKA_TOPIC
        self.duration = duration
        self.source = EventSource(players=players, metric=metric, seed=seed)
        self.stats = TrafficStats()
        self.stopping = False
        # Several batches a second keep the pace smooth; at least ~10 events per batch
        # keeps the overhead low at high rates.
        self.tick = max(0.01, min(0.1, 10 / rate))

    def stop(self, *_args) -> None:
        self.stopping = True

    def _on_delivery(self, error: KafkaError | None, _message) -> None:
        if error is not None:
            self.stats.errors += 1
            self.stats.last_error = str(error)

    def run(
        self,
        *,
        on_progress: Callable[[TrafficStats], None] | None = None,
        progress_every: float = 5.0,
    ) -> TrafficStats:
        ensure_topic(topic=self.topic)
        producer = make_producer(
            **{"on_delivery": self._on_delivery, "delivery.report.only.error": True}
        )
        stats = self.stats = TrafficStats()
        deadline = None if self.duration is None else stats.started + self.duration
        # Token bucket: tokens accrue at `rate`; at most one second's worth is kept, so a
        # stall is caught up but never turns into a long burst.
        tokens, last, last_report = 0.0, stats.started, stats.started
        try:
            while not self.stopping:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                tokens = min(tokens + (now - last) * self.rate, max(self.rate, 1.0))
                last = now
                due = int(tokens)
                if due:
                    tokens -= due
                    batch = self.source.batch(due, datetime.now(UTC))
                    stats.sent += produce_events(producer, batch, topic=self.topic)
                producer.poll(0)
                if on_progress and now - last_report >= progress_every:
                    on_progress(stats)
                    last_report = now
                pause = self.tick - (time.monotonic() - now)
                if deadline is not None:
                    pause = min(pause, deadline - time.monotonic())
                if pause > 0:
                    time.sleep(pause)
        finally:
            stats.undelivered = producer.flush(10)
        return stats
