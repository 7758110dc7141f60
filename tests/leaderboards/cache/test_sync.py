"""Cache builds raced against live ingestion, then Redis compared with PostgreSQL.

test_store.py forces each interleaving by hand; here a real consumer process ingests while
this test rebuilds and drops boards as fast as it can, so the interleavings are whatever
the scheduler makes of them.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from leaderboards.cache.builds import cache_build_board
from leaderboards.models import Aggregation, TieBreak
from leaderboards.postgres.standings import standings_page
from leaderboards.ranking import Window
from tests.factories import BoardFactory
from tests.ingestion.kafka_helpers import (
    consumer_process,
    produce,
    score_events,
    stop,
    stored_count,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_builds_racing_ingestion_leave_redis_equal_to_postgresql(topic, store):
    start = datetime.now(UTC) - timedelta(hours=1)
    boards = [
        BoardFactory(),  # all time
        BoardFactory(
            starts_at=start + timedelta(seconds=10), ends_at=start + timedelta(seconds=40)
        ),
        BoardFactory(aggregation=Aggregation.MAX),
        # Members that carry their reach time, replaced as scores change.
        BoardFactory(tie_break=TieBreak.EARLIEST),
        BoardFactory(aggregation=Aggregation.MAX, tie_break=TieBreak.EARLIEST),
    ]
    events = list(score_events(60_000, players=500, start=start))

    def produce_in_bursts():
        for i in range(0, len(events), 2_000):
            produce(((k, v) for k, v, _, _ in events[i : i + 2_000]), topic)
            time.sleep(0.05)

    process = consumer_process(
        topic, f"group-{topic}", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    producing = threading.Thread(target=produce_in_bursts)
    rng = random.Random(3)
    outcomes: list[str] = []
    try:
        producing.start()
        while stored_count() < len(events):
            board = rng.choice(boards)
            if producing.is_alive() and rng.random() < 0.2:
                store.drop(board.pk)  # as a Redis flush or an admin edit would
            outcomes.append(cache_build_board(board, force=True))
            time.sleep(rng.random() * 0.05)
        for board in boards:  # every board ends cached, fed by the last batches
            cache_build_board(board)
    finally:
        producing.join()
        assert stop(process) == 0  # SIGTERM: the last batch reaches Redis before it exits
    assert outcomes.count("ready") > 10, outcomes  # the race did run

    for board in boards:
        cached = store.top(board, 0, 1_000)
        assert cached is not None, f"board {board.slug} fell out of the cache"
        truth = standings_page(Window.of_board(board), offset=0, limit=1_000)
        assert cached == truth, f"board {board.slug} differs from PostgreSQL"
