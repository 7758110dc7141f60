"""No read fails because the cache is gone: Redis down, restarted empty or flushed."""

from __future__ import annotations

import pytest

from leaderboards.cache.store import redis_breaker_reset
from leaderboards.postgres.standings import standings_page
from leaderboards.ranking import Window
from leaderboards.selectors import board_around, board_entries, board_ranks
from tests.factories import BoardFactory
from tests.ingestion.kafka_helpers import consume_until_idle, expected_totals, produce, score_events

pytestmark = pytest.mark.django_db(transaction=True)


def scores(entries):
    return {e.player_id: e.score for e in entries}


def test_reads_survive_redis_going_down_and_boards_rebuild_when_it_returns(
    topic, store, embedded_services
):
    board = BoardFactory()
    events = list(score_events(500, players=25))
    produce(((k, v) for k, v, _, _ in events[:250]), topic)
    consume_until_idle(topic)
    board_entries(board, offset=0, limit=10)
    assert store.state(board) == "ready"

    embedded_services.stop("valkey")
    try:
        produce(((k, v) for k, v, _, _ in events[250:]), topic)
        results = consume_until_idle(topic)  # the consumer keeps storing without Redis
        assert sum(r.accepted for r in results) == 250
        count, entries = board_entries(board, offset=0, limit=100)
        assert count == 25
        assert scores(entries) == expected_totals(events)
        assert board_around(board, player_id="p3", n=1)
        assert [e.player_id for e in board_ranks(board, player_ids=["p1", "zz"])] == ["p1"]
    finally:
        embedded_services.start("valkey")

    redis_breaker_reset()
    count, entries = board_entries(board, offset=0, limit=100)  # rebuilt on this read
    assert store.state(board) == "ready"
    assert scores(entries) == expected_totals(events)
    assert store.top(board, 0, 100) == standings_page(Window.of_board(board), offset=0, limit=100)


def test_a_flushed_redis_is_rebuilt_on_the_next_read(topic, store, redis_client):
    board = BoardFactory()
    events = list(score_events(100, players=10))
    produce(((k, v) for k, v, _, _ in events), topic)
    consume_until_idle(topic)
    board_entries(board, offset=0, limit=10)
    redis_client.flushall()
    assert store.cached_board_ids() == set()
    _, entries = board_entries(board, offset=0, limit=100)
    assert scores(entries) == expected_totals(events)
    assert store.state(board) == "ready"
