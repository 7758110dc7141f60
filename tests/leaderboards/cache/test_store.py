"""The Redis store and its fence protocol against a real Redis and PostgreSQL.

Batches are fed the way the consumer feeds them (store in PostgreSQL, then apply to
Redis) but step by step, so every interleaving with a cache build can be forced.
"""

from __future__ import annotations

import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_lib
from django.db import connection, transaction
from prometheus_client import REGISTRY

from ingestion.batches import DecodedBatch, store_batch
from ingestion.events import ScoreEvent
from leaderboards.cache.apply import cache_apply_batch
from leaderboards.cache.builds import cache_build_board
from leaderboards.cache.store import BoardKeys
from leaderboards.cache.sync import cache_sync
from leaderboards.models import Aggregation, SortOrder
from leaderboards.postgres.deltas import offsets_for_topic
from leaderboards.postgres.standings import standings_page, standings_stream
from leaderboards.ranking import Window
from tests.factories import BoardFactory

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class Feed:
    """Stands in for the consumer: numbered batches per partition, stored then applied."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.positions: dict[int, int] = {}

    def store(self, partition: int, scores: list[tuple[str, int]], at: datetime = T0):
        start = self.positions.get(partition, -1)
        first = max(start, 0)
        batch = DecodedBatch()
        for player, delta in scores:
            batch.events.append(
                (
                    partition,
                    ScoreEvent(
                        player_id=player,
                        metric="score",
                        delta=delta,
                        created_at=at,
                        event_id=None,
                        dedupe_key=uuid.uuid4(),
                    ),
                )
            )
        batch.next_offsets[partition] = first + max(len(scores), 1)
        new = store_batch(topic=self.topic, batch=batch).new
        self.positions[partition] = batch.next_offsets[partition]
        return new, {partition: (start, batch.next_offsets[partition])}

    def apply(self, stored):
        new, positions = stored
        return cache_apply_batch(deltas=new, positions=positions).outcomes

    def ingest(self, partition: int, scores: list[tuple[str, int]], at: datetime = T0):
        return self.apply(self.store(partition, scores, at))


def snapshot_build(board, store, token="t"):
    """The three steps of cache_build_board, to be interleaved by hand."""
    assert store.begin_build(board, token, force=True)

    def take_snapshot():
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            fences = offsets_for_topic(topic="t")
            store.load_build(board, standings_stream(Window.of_board(board)))
        return fences

    return take_snapshot


def redis_scores(store, board) -> dict[str, int]:
    page = store.top(board, 0, 10_000)
    assert page is not None, "board should be cached"
    return {s.player_id: s.score for s in page.standings}


def pg_scores(board) -> dict[str, int]:
    page = standings_page(Window.of_board(board), offset=0, limit=10_000)
    return {s.player_id: s.score for s in page.standings}


@pytest.fixture
def feed(settings):
    settings.KAFKA_TOPIC = "t"
    return Feed("t")


def test_a_cached_board_follows_new_batches(store, feed):
    board = BoardFactory()
    feed.ingest(0, [("a", 10), ("b", 5)])
    assert cache_build_board(board) == "ready"
    assert feed.ingest(0, [("a", 1), ("c", 7)]) == {board.pk: "applied"}
    assert redis_scores(store, board) == {"a": 11, "c": 7, "b": 5} == pg_scores(board)


@pytest.mark.parametrize(
    ("aggregation", "tie_break"),
    [("sum", "player_id"), ("last", "player_id"), ("max", "earliest")],
)
def test_nothing_of_a_ready_board_expires_after_the_build_timeout(
    store, feed, settings, aggregation, tie_break
):
    """The build keys expire with the build timeout, and RENAME carries an expiry over: a
    board swapped in must keep no TTL, or its set vanishes while its meta says ready."""
    settings.LEADERBOARD_BUILD_TIMEOUT_SECONDS = 1
    board = BoardFactory(aggregation=aggregation, tie_break=tie_break)
    feed.ingest(0, [("a", 10), ("b", 5)])
    take_snapshot = snapshot_build(board, store)
    fences = take_snapshot()
    feed.ingest(0, [("a", 1)])  # queued during the build, replayed by finish_build
    assert store.finish_build(board, "t", fences) == "ready"
    keys = BoardKeys.of(board.pk)
    assert [store.redis.pttl(key) for key in keys.all() if store.redis.exists(key)] == [-1] * (
        3 if aggregation == "last" or tie_break == "earliest" else 2
    )
    time.sleep(1.5)  # past the build timeout
    feed.ingest(0, [("c", 7)])
    assert store.state(board) == "ready"
    assert redis_scores(store, board) == pg_scores(board)
    assert set(redis_scores(store, board)) == {"a", "b", "c"}


def test_a_batch_applied_during_the_build_is_queued_and_counted_once(store, feed):
    board = BoardFactory()
    feed.ingest(0, [("a", 10)])
    take_snapshot = snapshot_build(board, store)
    assert feed.ingest(0, [("a", 5)]) == {board.pk: "queued"}  # committed before the snapshot
    fences = take_snapshot()
    assert store.finish_build(board, "t", fences) == "ready"
    assert redis_scores(store, board) == {"a": 15} == pg_scores(board)


def test_a_batch_committed_after_the_snapshot_is_replayed(store, feed):
    board = BoardFactory()
    feed.ingest(0, [("a", 10)])
    take_snapshot = snapshot_build(board, store)
    fences = take_snapshot()
    assert feed.ingest(0, [("a", 5), ("b", 1)]) == {board.pk: "queued"}
    assert store.finish_build(board, "t", fences) == "ready"
    assert redis_scores(store, board) == {"a": 15, "b": 1} == pg_scores(board)


def test_a_batch_in_the_snapshot_but_applied_after_the_build_is_skipped(store, feed):
    board = BoardFactory()
    late = feed.store(0, [("a", 10)])  # committed; its Redis step is slow
    assert cache_build_board(board) == "ready"
    assert feed.apply(late) == {board.pk: "applied"}  # fences skip it inside the script
    assert redis_scores(store, board) == {"a": 10} == pg_scores(board)


def test_a_lost_redis_write_freezes_the_board_until_it_is_rebuilt(store, feed):
    """A gap: the set keeps the last state whose every partition lines up with its fences,
    shown as stale (not dropped: PostgreSQL may be down), and later batches leave it be."""
    board = BoardFactory()
    feed.ingest(0, [("a", 10)])
    feed.ingest(1, [("b", 3)])
    assert cache_build_board(board) == "ready"
    feed.store(0, [("a", 5)])  # stored, but the Redis step never happened (crash, outage)
    assert feed.ingest(1, [("b", 1)]) == {board.pk: "applied"}
    assert feed.ingest(0, [("a", 1)]) == {board.pk: "stale"}
    assert feed.ingest(1, [("b", 1)]) == {board.pk: "frozen"}
    page = store.top(board, 0, 10)
    assert page.stale
    assert redis_scores(store, board) == {"a": 10, "b": 4}
    assert board.pk in store.cached_board_ids()
    assert cache_build_board(board) == "ready"
    assert not store.top(board, 0, 10).stale
    assert redis_scores(store, board) == {"a": 16, "b": 5} == pg_scores(board)


def test_a_forced_rebuild_serves_the_old_set_until_the_new_one_is_swapped_in(store, feed):
    board = BoardFactory()
    feed.ingest(0, [("a", 10)])
    assert cache_build_board(board) == "ready"
    take_snapshot = snapshot_build(board, store)
    assert feed.ingest(0, [("a", 5)]) == {board.pk: "queued"}
    assert store.top(board, 0, 10).stale  # shown while the new set is built
    assert redis_scores(store, board) == {"a": 10}
    assert cache_build_board(board) == "busy"
    assert store.finish_build(board, "t", take_snapshot()) == "ready"
    assert redis_scores(store, board) == {"a": 15} == pg_scores(board)


def test_a_failed_rebuild_gives_the_board_back_caught_up(store, feed):
    """The snapshot fails (PostgreSQL down): the old set serves on, with the batches queued
    during the build applied, and is ready again when they line up with its fences."""
    board = BoardFactory()
    feed.ingest(0, [("a", 10)])
    assert cache_build_board(board) == "ready"
    snapshot_build(board, store)
    assert feed.ingest(0, [("a", 5)]) == {board.pk: "queued"}
    store.abandon_build(board, "t")
    assert store.state(board) == "ready"
    assert not store.top(board, 0, 10).stale
    assert redis_scores(store, board) == {"a": 15} == pg_scores(board)
    assert feed.ingest(0, [("a", 1)]) == {board.pk: "applied"}
    assert board.pk in store.cached_board_ids()


def test_a_failed_rebuild_of_a_stale_board_leaves_it_stale_and_shown(store, feed):
    board = BoardFactory()
    feed.ingest(0, [("a", 10)])
    assert cache_build_board(board) == "ready"
    feed.store(0, [("a", 5)])  # never reaches Redis
    assert feed.ingest(0, [("a", 1)]) == {board.pk: "stale"}
    store.begin_build(board, "t")  # a stale board is rebuilt without force
    assert feed.ingest(0, [("a", 2)]) == {board.pk: "queued"}
    store.abandon_build(board, "t")
    assert store.state(board) == "stale"
    assert store.top(board, 0, 10).stale
    assert redis_scores(store, board) == {"a": 10}
    assert cache_build_board(board) == "ready"
    assert redis_scores(store, board) == {"a": 18} == pg_scores(board)


def test_a_dead_build_over_a_shown_board_is_taken_over_after_its_lease(store, feed, settings):
    """A serving board's meta carries no expiry (its set would go with it): the build's
    lease runs out instead, and the next build takes the board over."""
    settings.LEADERBOARD_BUILD_TIMEOUT_SECONDS = 1
    board = BoardFactory()
    feed.ingest(0, [("a", 10)])
    assert cache_build_board(board) == "ready"
    snapshot_build(board, store, token="dead")  # its process dies here
    assert cache_build_board(board) == "busy"
    assert store.redis.pttl(BoardKeys.of(board.pk).meta) == -1
    time.sleep(1.2)
    assert store.top(board, 0, 10).stale  # shown all along
    feed.ingest(0, [("a", 2)])
    assert cache_build_board(board) == "ready"
    assert store.finish_build(board, "dead", {}) == "superseded"
    assert redis_scores(store, board) == {"a": 12} == pg_scores(board)


def test_the_drift_check_tells_a_batch_in_flight_from_drift(store, feed):
    """A batch committed but not yet applied makes Redis and PostgreSQL differ for a moment:
    the drift check compares them only at the same offsets, so that is no drift."""
    board = BoardFactory()
    feed.ingest(0, [("a", 10)])
    assert cache_build_board(board) == "ready"
    in_flight = feed.store(0, [("a", 5)])
    report = cache_sync()
    assert (report.checked, report.drifted) == (1, [])
    assert feed.apply(in_flight) == {board.pk: "applied"}
    store.redis.zadd(f"lb:{{{board.pk}}}:z", {"ghost": -1})
    assert cache_sync().drifted == [board.slug]
    assert redis_scores(store, board) == {"a": 15} == pg_scores(board)


def test_partitions_are_fenced_independently(store, feed):
    board = BoardFactory()
    feed.ingest(0, [("a", 1)])
    feed.ingest(1, [("b", 2)])
    take_snapshot = snapshot_build(board, store)
    feed.ingest(1, [("b", 3)])  # before the snapshot: in it
    fences = take_snapshot()
    feed.ingest(0, [("a", 4)])  # after the snapshot: replayed
    assert store.finish_build(board, "t", fences) == "ready"
    feed.ingest(1, [("c", 5)])
    assert redis_scores(store, board) == {"a": 5, "b": 5, "c": 5} == pg_scores(board)


def test_a_build_in_progress_blocks_others_until_it_times_out(store, feed):
    board = BoardFactory()
    feed.ingest(0, [("a", 1)])
    snapshot_build(board, store, token="old")
    assert cache_build_board(board, force=True) == "busy"
    store.redis.delete(f"lb:{{{board.pk}}}:meta")  # the old build's timeout ran out
    take_new = snapshot_build(board, store, token="new")
    feed.ingest(0, [("a", 2)])
    assert store.finish_build(board, "new", take_new()) == "ready"
    assert store.finish_build(board, "old", {}) == "superseded"
    assert redis_scores(store, board) == {"a": 3}


def test_only_deltas_inside_the_window_and_metric_reach_a_board(store, feed):
    board = BoardFactory(starts_at=T0, ends_at=T0 + timedelta(days=1))
    assert cache_build_board(board) == "ready"
    feed.ingest(0, [("early", 1)], at=T0 - timedelta(milliseconds=1))
    feed.ingest(0, [("first", 2)], at=T0)
    feed.ingest(0, [("last", 3)], at=T0 + timedelta(days=1) - timedelta(milliseconds=1))
    feed.ingest(0, [("late", 4)], at=T0 + timedelta(days=1))
    assert redis_scores(store, board) == {"last": 3, "first": 2} == pg_scores(board)


@pytest.mark.parametrize(
    ("aggregation", "order", "expected"),
    [
        (Aggregation.SUM, SortOrder.DESC, [("a", 1, 9), ("b", 2, 7), ("c", 2, 7), ("d", 4, 1)]),
        (Aggregation.SUM, SortOrder.ASC, [("d", 1, 1), ("b", 2, 7), ("c", 2, 7), ("a", 4, 9)]),
        (Aggregation.MAX, SortOrder.DESC, [("a", 1, 6), ("c", 1, 6), ("b", 3, 4), ("d", 4, 1)]),
        (Aggregation.MIN, SortOrder.ASC, [("d", 1, 1), ("c", 1, 1), ("a", 3, 3), ("b", 3, 3)]),
        (Aggregation.LAST, SortOrder.DESC, [("a", 1, 6), ("c", 1, 6), ("b", 3, 3), ("d", 4, 1)]),
    ],
)
def test_redis_and_postgresql_rank_alike(store, feed, aggregation, order, expected):
    board = BoardFactory(aggregation=aggregation, sort_order=order)
    half = [("a", 3), ("b", 4), ("c", 1), ("d", 1)]
    feed.ingest(0, half)
    assert cache_build_board(board) == "ready"
    feed.ingest(1, [("a", 6), ("b", 3), ("c", 6)], at=T0 + timedelta(seconds=1))
    page = store.top(board, 0, 10)
    pg = standings_page(Window.of_board(board), offset=0, limit=10)
    assert page == pg
    if aggregation not in (Aggregation.MIN, Aggregation.LAST):
        assert [(s.player_id, s.rank, s.score) for s in page.standings] == expected
    else:  # min: c has 1 then 6 -> 1; ties by id: c before d
        assert [(s.player_id, s.rank, s.score) for s in page.standings] == sorted(
            expected, key=lambda e: (e[1], e[0])
        )


def test_competition_ranks_hold_across_pages_and_around(store, feed):
    board = BoardFactory()
    feed.ingest(0, [("p1", 50), ("p2", 40), ("p3", 40), ("p4", 30), ("p5", 40)])
    assert cache_build_board(board) == "ready"
    window = Window.of_board(board)
    second_page = store.top(board, 2, 2)
    assert [(s.rank, s.player_id) for s in second_page.standings] == [(2, "p3"), (2, "p5")]
    assert second_page == standings_page(window, offset=2, limit=2)
    around = store.around(board, "p4", 1)
    assert [(s.rank, s.player_id) for s in around.standings] == [(2, "p5"), (5, "p4")]
    ranks = store.ranks(board, ["p4", "nobody", "p2"])
    assert [(s.player_id, s.rank) for s in ranks.standings] == [("p2", 2), ("p4", 5)]


def test_a_consumer_with_an_old_board_definition_rereads_it(store, feed):
    board = BoardFactory()
    feed.ingest(0, [("a", 1)])
    assert cache_build_board(board) == "ready"
    feed.ingest(0, [("a", 1)])  # the consumer now holds the board's definition
    board.ends_at = T0 + timedelta(days=1)
    board.save()
    assert cache_build_board(board, force=True) == "ready"  # rebuilt for the new window
    assert feed.ingest(0, [("a", 5)], at=T0 + timedelta(days=2)) == {board.pk: "applied"}
    assert redis_scores(store, board) == {"a": 2} == pg_scores(board)


def test_a_cached_board_older_than_its_definition_is_dropped(store, feed, settings):
    settings.LEADERBOARD_CONSUMER_BOARDS_MAX_AGE_MS = 0
    board = BoardFactory()
    feed.ingest(0, [("a", 1)])
    assert cache_build_board(board) == "ready"
    board.__class__.objects.filter(pk=board.pk).update(ends_at=T0)  # edited, cache kept
    assert feed.ingest(0, [("a", 1)]) == {board.pk: "stale"}
    assert store.state(board) is None


def test_last_keeps_the_latest_event_whatever_order_events_arrive_in(store, feed):
    board = BoardFactory(aggregation=Aggregation.LAST)
    feed.ingest(0, [("a", 10)], at=T0 + timedelta(seconds=5))
    assert cache_build_board(board) == "ready"
    feed.ingest(0, [("a", 99)], at=T0 + timedelta(seconds=1))  # late but older: ignored
    feed.ingest(0, [("a", 7), ("b", 1)], at=T0 + timedelta(seconds=9))
    feed.ingest(0, [("b", 3)], at=T0 + timedelta(seconds=9))  # same time, later batch: wins
    assert redis_scores(store, board) == {"a": 7, "b": 3} == pg_scores(board)
    feed.ingest(0, [("c", 4), ("c", 5)], at=T0)  # same time, one batch: the dedupe key decides
    assert redis_scores(store, board) == pg_scores(board)


def kill_other_connections(store):
    """Every connection but this one, on every node of a cluster."""
    nodes = {"target_nodes": redis_lib.RedisCluster.ALL_NODES} if store.cluster else {}
    store.redis.client_kill_filter(_type="normal", skipme=True, **nodes)


def test_reads_survive_redis_forgetting_its_scripts_and_a_dropped_connection(store, feed):
    board = BoardFactory()
    feed.ingest(0, [("p1", 5), ("p2", 3)])
    assert cache_build_board(board) == "ready"
    expected = store.top(board, 0, 10)

    store.redis.script_flush()  # what a Redis restart does to loaded scripts
    assert store.top(board, 0, 10) == expected

    kill_other_connections(store)
    assert store.top(board, 0, 10) == expected  # reconnected

    # Redis gone for good (on a cluster, every node)
    pools = (
        [node.redis_connection.connection_pool for node in store.redis.get_nodes()]
        if store.cluster
        else [store.redis.connection_pool]
    )
    for pool in pools:
        pool.connection_kwargs["port"] = 1
    for read_connection in store._local.connections.values():
        read_connection.port = 1
    kill_other_connections(store)
    with pytest.raises(redis_lib.ConnectionError):
        store.top(board, 0, 10)  # the caller falls back to PostgreSQL


def node_pools(store) -> list:
    """The connection pools the store reads through: one per node on a cluster."""
    if store.cluster:
        return [node.redis_connection.connection_pool for node in store.redis.get_nodes()]
    return [store.redis.connection_pool]


@pytest.fixture
def small_pools(store, monkeypatch) -> int:
    """Every pool of the store capped at a few connections, so that a leak shows after a few
    reads rather than after redis-py's default 100."""
    limit = 4
    for pool in node_pools(store):
        monkeypatch.setattr(pool, "max_connections", limit)
    return limit


def in_threads_that_end(count: int, read) -> list:
    """`read()` run `count` times, each in a thread of its own that then ends, as a
    thread-per-request server (runserver) runs requests; its results, or the exceptions."""
    results: list = []

    def run():
        try:
            results.append(read())
        except Exception as exc:  # the test reports it
            results.append(exc)

    for _ in range(count):
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
    return results


def test_reads_from_threads_that_end_give_their_connections_back(store, feed, small_pools):
    board = BoardFactory()
    feed.ingest(0, [("p1", 5), ("p2", 3)])
    assert cache_build_board(board) == "ready"
    expected = store.top(board, 0, 10)

    results = in_threads_that_end(10 * small_pools, lambda: store.top(board, 0, 10))
    assert results == [expected] * (10 * small_pools)  # none refused: "Too many connections"
    for pool in node_pools(store):
        assert len(pool._in_use_connections) <= 1  # this thread's own, if it read there


def reads_answered(reason: str = "") -> float:
    if reason:
        name, labels = "leaderboards_cache_fallbacks_total", {"reason": reason}
    else:
        name, labels = "leaderboards_cache_hits_total", {}
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_thread_per_request_server_answers_every_read_from_redis(
    store, feed, small_pools, live_server
):
    """Django's live server runs each request in a thread of its own, as runserver (and
    so `make run`) does."""
    board = BoardFactory()
    feed.ingest(0, [("p1", 5), ("p2", 3)])
    assert cache_build_board(board) == "ready"
    url = f"{live_server.url}/api/v1/leaderboards/{board.slug}/entries/?limit=10"
    hits, errors = reads_answered(), reads_answered("redis_error")
    requests = 10 * small_pools
    for _ in range(requests):
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
    assert reads_answered("redis_error") - errors == 0, "no read fell back to PostgreSQL"
    assert reads_answered() - hits == requests
