"""The consumer as a process: kill -9, SIGTERM and a database outage lose nothing and count
nothing twice."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from ingestion import kafka
from ingestion.models import RejectedEvent
from leaderboards.cache.builds import cache_build_board
from leaderboards.postgres.standings import standings_page
from leaderboards.ranking import Window
from leaderboards.selectors import board_entries
from tests.factories import BoardFactory
from tests.ingestion.kafka_helpers import (
    consume_until_idle,
    consumer_process,
    expected_totals,
    produce,
    score_events,
    stop,
    stored_count,
    stored_totals,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def assert_cache_matches_database(store, board):
    """A cached board equals PostgreSQL; a board the crash made stale (shown frozen, or
    dropped) rebuilds to it."""
    truth = standings_page(Window.of_board(board), offset=0, limit=10_000)
    cached = store.top(board, 0, 10_000)
    if cached is None or cached.stale:
        assert cache_build_board(board) == "ready"
        cached = store.top(board, 0, 10_000)
    assert cached == truth


def test_kill_9_mid_batch_then_restart_gives_exact_totals(topic, store):
    board = BoardFactory()
    assert cache_build_board(board) == "ready"
    events = list(score_events(30_000, players=300))
    produce(((k, v) for k, v, _, _ in events), topic)

    for threshold in (2_000, 9_000, 17_000):  # three kills at different points of the stream
        process = consumer_process(
            topic, f"group-{topic}", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(lambda t=threshold: stored_count() >= t, timeout=120, message=f"{threshold} rows")
        process.kill()
        process.wait(10)
        assert stored_count() < len(events), "the kill should land before the end"

    process = consumer_process(
        topic, f"group-{topic}", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: stored_count() == len(events), timeout=180, message="every event")
    finally:
        assert stop(process) == 0
    assert stored_totals() == expected_totals(events)
    assert_cache_matches_database(store, board)


def test_sigterm_finishes_the_batch_and_leaves_cleanly(topic, store):
    board = BoardFactory()
    assert cache_build_board(board) == "ready"
    events = list(score_events(20_000, players=100))
    produce(((k, v) for k, v, _, _ in events), topic)
    process = consumer_process(
        topic, f"group-{topic}", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    wait_for(lambda: stored_count() >= 1_000, timeout=120, message="first batches")
    assert stop(process, signal.SIGTERM, timeout=30) == 0
    assert "consumer left group" in process.stderr.read()

    process = consumer_process(
        topic, f"group-{topic}", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: stored_count() == len(events), timeout=180, message="every event")
    finally:
        stop(process)
    assert stored_totals() == expected_totals(events)
    assert_cache_matches_database(store, board)


def test_database_outage_is_waited_out_without_loss(topic, store, embedded_services, tmp_path):
    events = list(score_events(8_000, players=80))
    produce(((k, v) for k, v, _, _ in events[:4_000]), topic)
    log = tmp_path / "consumer.log"
    process = consumer_process(
        topic, f"group-{topic}", stdout=subprocess.DEVNULL, stderr=log.open("w")
    )
    try:
        wait_for(lambda: stored_count() == 4_000, timeout=120, message="first half")
        connection.close()
        embedded_services.stop("postgres")
        produce(((k, v) for k, v, _, _ in events[4_000:]), topic)
        assert process.poll() is None, "the consumer must wait for the database, not die"
        embedded_services.start("postgres")
        wait_for(lambda: stored_count() == len(events), timeout=120, message="second half")
    finally:
        connection.close()
        assert stop(process) == 0, log.read_text()[-3000:]
    assert "database unavailable" in log.read_text()
    assert stored_totals() == expected_totals(events)
    assert not RejectedEvent.objects.exists()  # an outage is not a poison pill


def test_a_database_refusing_the_consumers_sql_is_waited_out_not_blamed_on_messages(
    topic, store, tmp_path
):
    """A table missing (a migration not applied yet; here renamed away) raises
    ProgrammingError, not OperationalError: the database's state, not the message's, so the
    consumer waits as for an outage and the poison-pill rule rejects nothing."""
    good = list(score_events(50, players=5))
    bad = [(b"p1", b"{not json"), (b"p2", b"[1]")]
    produce([*bad, *((k, v) for k, v, _, _ in good)], topic)
    log = tmp_path / "consumer.log"
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE ingestion_rejectedevent RENAME TO rejectedevent_away")
    process = consumer_process(
        topic,
        f"group-{topic}",
        env={"INGEST_MAX_ATTEMPTS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    try:
        wait_for(
            lambda: log.read_text().count("database unavailable") >= 2,
            timeout=60,
            message="the consumer retrying",
        )
        assert process.poll() is None, log.read_text()[-3000:]
        assert stored_count() == 0
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE rejectedevent_away RENAME TO ingestion_rejectedevent")
    try:
        wait_for(lambda: stored_count() == len(good), timeout=60, message="the batch stored")
    finally:
        assert stop(process) == 0, log.read_text()[-3000:]
    assert stored_totals() == expected_totals(good)
    reasons = sorted(RejectedEvent.objects.values_list("reason", flat=True))
    assert reasons == ["malformed_json", "not_an_object"]


def test_a_broker_that_lost_its_log_is_read_from_its_new_beginning(topic, store, embedded_services):
    board = BoardFactory()
    before = list(score_events(300, players=30))
    produce(((k, v) for k, v, _, _ in before), topic)
    consume_until_idle(topic)
    board_entries(board, offset=0, limit=10)  # cached, fenced at the old offsets

    embedded_services.stop("kafka")  # the embedded broker keeps its log in memory only
    embedded_services.start("kafka")
    # The new broker knows none of the old one's producer ids and hands them out again from
    # 1. An idempotent producer that outlives the restart has its batches refused (Unknown
    # Producer Id, bumped epoch or not) until a new producer is given its id, and then
    # shares that id with it; real Kafka keeps producer ids with its log. So the web's
    # shared producer, made by earlier tests, is made anew for the tests after this.
    kafka.producer_holder.reset()
    after = list(score_events(200, players=30))
    produce(((k, v) for k, v, _, _ in after), topic)
    results = consume_until_idle(topic)

    assert sum(r.accepted for r in results) == 200
    assert stored_totals() == expected_totals(before + after)
    assert_cache_matches_database(store, board)


def _assigned(log) -> list[set[int]]:
    """The partitions of each "assigned partitions {0: -2, 3: 118}" line (partition: offset)."""
    return [{int(p) for p in re.findall(r"(\d+):", line)} for line in _lines(log, ASSIGNED)]


def _revoked(log) -> list[set[int]]:
    """The partitions of each "revoked partitions [0, 3]" line."""
    return [{int(p) for p in re.findall(r"\d+", line)} for line in _lines(log, REVOKED)]


def _lines(log, pattern: str) -> list[str]:
    log.flush()
    return re.findall(pattern, Path(log.name).read_text())


def test_a_joining_consumer_takes_only_the_partitions_it_gets_and_no_event_is_lost(
    topic, store, tmp_path
):
    """cooperative-sticky: when a second consumer joins, the first gives up just the
    partitions that move (an eager rebalance would revoke all six and hand three back)."""
    board = BoardFactory()
    assert cache_build_board(board) == "ready"
    events = list(score_events(12_000, players=300))
    produce(((k, v) for k, v, _, _ in events[:6_000]), topic)
    logs = [(tmp_path / f"{name}.log").open("w") for name in ("first", "second")]
    first = consumer_process(topic, f"group-{topic}", stdout=subprocess.DEVNULL, stderr=logs[0])
    second = None
    try:
        wait_for(lambda: _assigned(logs[0]) == [set(range(6))], timeout=60)
        second = consumer_process(
            topic, f"group-{topic}", stdout=subprocess.DEVNULL, stderr=logs[1]
        )
        wait_for(lambda: _assigned(logs[1]), timeout=90, message="the second joins")
        produce(((k, v) for k, v, _, _ in events[6_000:]), topic)
        wait_for(lambda: stored_count() == len(events), timeout=120, message="every event")
    finally:
        for process in (first, second):
            if process is not None:
                assert stop(process) == 0

    # The second's first assignment: stopping the first hands it the rest a moment later.
    taken = _assigned(logs[1])[0]
    assert 0 < len(taken) < 6
    revoked = _revoked(logs[0])
    assert revoked[0] == taken  # only what moved; the rest kept being consumed
    assert stored_totals() == expected_totals(events)
    assert_cache_matches_database(store, board)


ASSIGNED = r"assigned partitions \{([^}]*)\}"
REVOKED = r"revoked partitions \[([^\]]*)\]"
