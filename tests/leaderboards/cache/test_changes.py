"""Change notices: one PUBLISH per applied batch naming the boards it changed, one on a
finalisation, and never a failed batch when Redis pub/sub fails."""

from __future__ import annotations

import time

import pytest

from leaderboards.cache import changes
from leaderboards.cache.builds import cache_build_board
from leaderboards.cache.changes import CHANGES_CHANNEL, ChangeNotice, changes_decode
from leaderboards.services import board_finalize
from tests.factories import BoardFactory
from tests.ingestion.kafka_helpers import consume_until_idle, produce, score_events

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def notices(redis_client):
    """The notices published while the test runs, decoded, read off a real subscription."""
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(CHANGES_CHANNEL)
    pubsub.get_message(timeout=1)  # the subscribe confirmation

    def received() -> list[ChangeNotice]:
        found = []
        deadline = time.monotonic() + 1
        while (message := pubsub.get_message(timeout=0.2)) is not None or (
            time.monotonic() < deadline and not found
        ):
            if message is not None:
                found.append(changes_decode(message["data"]))
        return found

    yield received
    pubsub.close()


def test_an_applied_batch_publishes_the_boards_it_changed_once(topic, store, notices):
    board = BoardFactory(metric="score")
    other = BoardFactory(metric="coins")
    cache_build_board(board)
    cache_build_board(other)
    events = list(score_events(50, players=5))
    produce(((k, v) for k, v, _, _ in events), topic)
    results = consume_until_idle(topic)
    seen = notices()
    assert len(seen) == len([r for r in results if r.accepted])
    assert {b for notice in seen for b in notice.boards} == {board.pk}
    assert all(notice.finalized == [] for notice in seen)
    assert all(notice.at > 0 for notice in seen)  # each stamped with its apply's time


def test_a_batch_for_no_cached_board_publishes_nothing(topic, store, notices):
    BoardFactory()  # not cached
    produce(((k, v) for k, v, _, _ in score_events(10, players=2)), topic)
    consume_until_idle(topic)
    assert notices() == []


def test_finalising_a_board_publishes_it_as_finalized(store, notices):
    board = BoardFactory()
    before = time.time()
    assert board_finalize(board.pk)
    [notice] = notices()
    assert (notice.boards, notice.finalized) == ([], [board.pk])
    assert before <= notice.at <= time.time()  # when it happened, for the push benchmark


def test_a_failing_publish_never_fails_the_batch(topic, store, monkeypatch):
    board = BoardFactory()
    cache_build_board(board)

    def refuse(*_args, **_kwargs):
        raise ConnectionError("pub/sub down")

    monkeypatch.setattr(type(store.redis), "publish", refuse)
    produce(((k, v) for k, v, _, _ in score_events(20, players=4)), topic)
    results = consume_until_idle(topic)
    assert sum(r.accepted for r in results) == 20
    assert {r.boards.get(board.pk) for r in results} == {"applied"}
    assert changes.CHANGES_CHANNEL == "lb:changes"
