"""What the push benchmark's board is fed, and when each change was applied.

The feed is score events into Kafka at a steady rate, through the real consumer
(`manage.py consume_scores`, its own process). Among them, every step, the pacer (a
player far ahead of the rest, so always first) gains one point: its score, less its head
start, numbers the steps, and every consumer batch changes the board's top N.

The apply times come from the change notices: the consumer publishes one right after each
batch's Redis apply, stamped with that time (leaderboards/cache/changes.py). The monitor
hears each notice for the board and reads the pacer's score at once: the steps up to it
were applied at the notice's time. A step of a later batch read by that same read (the
monitor was late) is given the earlier time, so a lag can only come out too long.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import UTC, datetime

import msgspec
import redis
from django.conf import settings

from ingestion.fake import format_time
from ingestion.kafka import make_producer
from leaderboards.cache.changes import CHANGES_CHANNEL, changes_decode
from leaderboards.cache.store import get_store
from leaderboards.models import Board

PACER = "pacer"
HEAD_START = 100_000_000
STEPS_PER_SECOND = 10
FILLER_PLAYERS = 1_000


def _event(player: str, metric: str, delta: int) -> bytes:
    return msgspec.json.encode(
        {
            "event_id": uuid.uuid4().hex,
            "player_id": player,
            "delta": delta,
            "metric": metric,
            "created_at": format_time(datetime.now(UTC)),
        }
    )


class Feed(threading.Thread):
    """`rate` events a second into `topic` until stopped: each step the pacer's point and
    filler events for random players."""

    def __init__(self, topic: str, metric: str, *, rate: int) -> None:
        super().__init__(daemon=True, name="bench-push-feed")
        self.topic, self.metric, self.rate = topic, metric, rate
        self.stopping = threading.Event()
        self.steps = 0
        self.producer = make_producer(**{"linger.ms": 5})

    def head_start(self) -> None:
        """The pacer's lead and one event per filler player, sent before subscribers come."""
        self.producer.produce(
            self.topic, _event(PACER, self.metric, HEAD_START), key=PACER.encode()
        )
        for i in range(FILLER_PLAYERS):
            player = f"player-{i}"
            self.producer.produce(self.topic, _event(player, self.metric, 1), key=player.encode())
        self.producer.flush(30)

    def run(self) -> None:
        fillers = max(0, self.rate // STEPS_PER_SECOND - 1)
        started = time.monotonic()
        while not self.stopping.is_set():
            self.producer.produce(self.topic, _event(PACER, self.metric, 1), key=PACER.encode())
            for _ in range(fillers):
                player = f"player-{random.randrange(FILLER_PLAYERS)}"
                delta = random.randint(1, 100)
                self.producer.produce(
                    self.topic, _event(player, self.metric, delta), key=player.encode()
                )
            self.producer.poll(0)
            self.steps += 1
            ahead = started + self.steps / STEPS_PER_SECOND - time.monotonic()
            if ahead > 0:
                self.stopping.wait(ahead)
        self.producer.flush(30)


class ApplyTimes(threading.Thread):
    """Hears the change notices for `board` and maps each pacer step to its apply time."""

    def __init__(self, board: Board) -> None:
        super().__init__(daemon=True, name="bench-push-apply-times")
        self.board = board
        self.applied: dict[int, float] = {}
        self.notices = 0
        self.stopping = threading.Event()
        self._seen = 0
        self.client = redis.Redis.from_url(settings.REDIS_URL)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(CHANGES_CHANNEL)

    def pacer_score(self) -> int | None:
        """The pacer's score in Redis now (None before its first event is applied)."""
        page = get_store().ranks(self.board, [PACER])
        standings = page.standings if page else []
        return int(standings[0].score) if standings else None

    def pacer_step(self) -> int:
        return max(0, (self.pacer_score() or HEAD_START) - HEAD_START)

    def run(self) -> None:
        while not self.stopping.is_set():
            message = self.pubsub.get_message(timeout=0.5)
            if message is None:
                continue
            notice = changes_decode(message["data"])
            if notice is None or self.board.pk not in notice.boards:
                continue
            self.notices += 1
            step = self.pacer_step()
            for each in range(self._seen + 1, step + 1):
                self.applied[each] = notice.at
            self._seen = max(self._seen, step)
        self.pubsub.close()
        self.client.close()
