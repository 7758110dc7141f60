"""The consumer end to end: real broker, real PostgreSQL, real Redis."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ingestion.events import Reason
from ingestion.models import RejectedEvent
from leaderboards import recording
from leaderboards.cache.builds import cache_build_board
from leaderboards.models import (
    Aggregation,
    BucketMember,
    ConsumerOffset,
    Participant,
    SortOrder,
    TieBreak,
)
from leaderboards.postgres.deltas import offsets_for_topic
from leaderboards.postgres.standings import standings_page
from leaderboards.ranking import Window
from leaderboards.selectors import board_bucket_entries, board_entries
from leaderboards.tournaments import participant_join
from players.models import Player
from tests.factories import BoardFactory
from tests.ingestion.kafka_helpers import (
    consume_until_idle,
    expected_totals,
    produce,
    score_events,
    stored_count,
    stored_totals,
)
from tests.leaderboards.test_tie_breaks import Event, counted, reference, triples

pytestmark = pytest.mark.django_db(transaction=True)


def test_events_flow_from_kafka_to_the_ranked_board(topic, store):
    board = BoardFactory()
    first = list(score_events(600, players=20))
    produce(((k, v) for k, v, _, _ in first), topic)
    results = consume_until_idle(topic)
    assert sum(r.accepted for r in results) == 600
    assert stored_totals() == expected_totals(first)

    count, entries = board_entries(board, offset=0, limit=100)  # builds the Redis board
    assert store.state(board) == "ready"
    totals = expected_totals(first)
    assert count == 20
    assert [e.score for e in entries] == sorted(totals.values(), reverse=True)

    more = list(score_events(400, players=30))
    produce(((k, v) for k, v, _, _ in more), topic)
    results = consume_until_idle(topic)
    assert {r.boards.get(board.pk) for r in results} == {"applied"}
    cached = store.top(board, 0, 100)
    assert cached == standings_page(Window.of_board(board), offset=0, limit=100)
    assert {s.player_id: s.score for s in cached.standings} == expected_totals(first + more)


def test_duplicate_events_count_once_even_when_replayed(topic, store):
    board = BoardFactory()
    events = list(score_events(300, players=10))
    produce(((k, v) for k, v, _, _ in events), topic)
    produce(((k, v) for k, v, _, _ in events[:100]), topic)  # a producer retried
    consume_until_idle(topic)
    assert stored_count() == 300
    board_entries(board, offset=0, limit=10)  # cache it

    ConsumerOffset.objects.filter(topic=topic).delete()  # forget everything: full replay
    results = consume_until_idle(topic, group="another-group")
    assert sum(r.consumed for r in results) == 400
    assert sum(r.duplicates for r in results) == 400
    assert sum(r.accepted for r in results) == 0
    assert stored_totals() == expected_totals(events)
    cached = store.top(board, 0, 100)
    assert cached is None or {s.player_id: s.score for s in cached.standings} == dict(
        expected_totals(events)
    )


def test_a_copy_stamped_in_another_week_counts_once(topic, store):
    """The delta log is partitioned by week (leaderboards/postgres/partitions.py): a copy of an
    event with another created_at lands in another partition, and still counts once, whether
    it comes in the same batch or a later one."""
    board = BoardFactory()
    now = datetime.now(UTC)
    copies = [now - timedelta(minutes=1), now - timedelta(days=9), now - timedelta(days=30)]

    def event(at: datetime) -> bytes:
        fields = {"event_id": "e-1", "player_id": "ann", "delta": 5, "created_at": at.isoformat()}
        return json.dumps(fields).encode()

    # Without an event_id the key is player, metric and created_at: a copy is at that time.
    bob = json.dumps({"player_id": "bob", "delta": 3, "created_at": copies[1].isoformat()})

    produce([(b"ann", event(copies[0])), (b"ann", event(copies[1])), (b"bob", bob.encode())], topic)
    consume_until_idle(topic)
    board_entries(board, offset=0, limit=10)  # cache it
    produce([(b"ann", event(copies[2])), (b"bob", bob.encode())], topic)
    results = consume_until_idle(topic)

    assert sum(r.duplicates for r in results) == 2
    assert stored_count() == 2
    assert stored_totals() == {"ann": 5, "bob": 3}
    cached = store.top(board, 0, 10).standings
    assert [(s.player_id, s.score) for s in cached] == [("ann", 5), ("bob", 3)]


def test_malformed_events_are_rejected_counted_and_kept(topic):
    good = list(score_events(5, players=5))
    bad = [
        (b"p1", b"{not json"),
        (b"p1", b'{"player_id": "p1"}'),
        (b"p1", b'{"player_id": 5, "delta": 1}'),
        (b"p1", b'{"player_id": "p1", "delta": 1, "created_at": "2999-01-01T00:00:00Z"}'),
        (b"p1", b'"just a string"'),
        (b"p1", None),
    ]
    produce([*bad[:3], *((k, v) for k, v, _, _ in good), *bad[3:]], topic)
    results = consume_until_idle(topic)
    assert sum(r.rejected for r in results) == 6
    assert sum(r.accepted for r in results) == 5
    reasons = sorted(RejectedEvent.objects.filter(topic=topic).values_list("reason", flat=True))
    assert reasons == sorted(
        [
            Reason.MALFORMED_JSON,
            Reason.MISSING_FIELD,
            Reason.WRONG_TYPE,
            Reason.FUTURE_TIMESTAMP,
            Reason.NOT_AN_OBJECT,
            Reason.EMPTY_MESSAGE,
        ]
    )
    kept = RejectedEvent.objects.get(topic=topic, reason=Reason.MALFORMED_JSON)
    assert bytes(kept.raw) == b"{not json"
    assert bytes(kept.key) == b"p1"
    assert kept.offset is not None
    assert stored_totals() == expected_totals(good)


def test_offsets_are_stored_with_the_deltas(topic):
    events = list(score_events(120, players=7))
    produce(((k, v) for k, v, _, _ in events), topic)
    consume_until_idle(topic)
    offsets = dict(
        ConsumerOffset.objects.filter(topic=topic).values_list("partition", "next_offset")
    )
    assert sum(offsets.values()) == 120  # next offset per partition = messages in it


def test_earliest_boards_through_kafka_with_a_rebuild_in_the_middle(topic, store):
    """Tie-breaks end to end: events from the broker, every operator and order on
    `earliest` boards, the cache rebuilt from PostgreSQL between two runs of the consumer."""
    start = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    boards = {
        (aggregation, order): BoardFactory(
            slug=f"{aggregation}-{order}",
            aggregation=aggregation,
            sort_order=order,
            tie_break=TieBreak.EARLIEST,
            starts_at=start,
        )
        for aggregation in Aggregation.values
        for order in SortOrder.values
    }
    # Five players score at each moment (ties on time across players, never for one player)
    # and deltas of 1 to 3 (ties on score).
    events = [
        Event(f"p{i % 5}", 1 + (i * 7) % 3, start + timedelta(seconds=i // 5), 0, uuid.uuid4())
        for i in range(120)
    ]

    def send(part: list[Event]) -> None:
        produce(((e.player.encode(), _event_json(e)) for e in part), topic)
        consume_until_idle(topic)

    for board in boards.values():
        board_entries(board, offset=0, limit=10)  # cached, empty
    send(events[:50])
    for board in boards.values():
        assert cache_build_board(board, force=True) == "ready"
    send(events[50:])

    for (aggregation, order), board in boards.items():
        expected = reference(events, aggregation, order, TieBreak.EARLIEST)
        assert store.state(board) == "ready"
        assert triples(standings_page(Window.of_board(board), offset=0, limit=100).standings) == (
            expected
        )
        assert triples(store.top(board, 0, 100).standings) == expected, (aggregation, order)


def test_tournament_boards_through_kafka_with_a_rebuild_in_the_middle(topic, store):
    """Tournament rules end to end: participants' events only, first attempts only, the
    cache rebuilt between two runs of the consumer."""
    start = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    boards = {
        rules: BoardFactory(
            slug=f"cup-{rules[0]}-{rules[1]}".lower(),
            aggregation=Aggregation.MAX,
            starts_at=start,
            join_required=rules[0],
            max_attempts=rules[1],
        )
        for rules in [(True, None), (False, 3), (True, 2)]
    }
    joined = {"p0": start, "p2": start + timedelta(seconds=10), "p4": start}
    for board in boards.values():
        for player, at in joined.items():
            participant_join(board=board, player_id=player)
            # As if they had joined at `at` (a join is stamped with the clock).
            Participant.objects.filter(board=board, player__external_id=player).update(joined_at=at)
        board_entries(board, offset=0, limit=10)  # cached
    # Events arrive in an order unlike their times (each time used once: the log breaks a
    # tie on time by a key the reference cannot see), so later messages displace attempts.
    events = [
        Event(f"p{i % 5}", (i * 7) % 11, start + timedelta(seconds=(i * 37) % 100), 0, uuid.uuid4())
        for i in range(100)
    ]

    def send(part: list[Event]) -> None:
        produce(((e.player.encode(), _event_json(e)) for e in part), topic)
        consume_until_idle(topic)

    send(events[:40])
    for board in boards.values():
        assert cache_build_board(board, force=True) == "ready"
    send(events[40:])

    for (join_required, attempts), board in boards.items():
        expected = reference(
            counted(events, joined if join_required else None, attempts),
            Aggregation.MAX,
            SortOrder.DESC,
            TieBreak.PLAYER_ID,
        )
        assert triples(store.top(board, 0, 100).standings) == expected, board.slug
        assert triples(standings_page(Window.of_board(board), offset=0, limit=100).standings) == (
            expected
        )


def _event_json(e: Event) -> bytes:
    return json.dumps(
        {
            "event_id": str(e.key),
            "player_id": e.player,
            "delta": e.value,
            "created_at": e.created_at.isoformat(timespec="milliseconds"),
        }
    ).encode()


def test_league_boards_through_kafka_with_a_rebuild_in_the_middle(topic, store):
    """Leagues end to end: every player placed once, buckets of at most N in the order
    players first arrived, each bucket ranked on its own by the board's scores."""
    start = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    board = BoardFactory(slug="league", starts_at=start, bucket_size=4)
    board_entries(board, offset=0, limit=10)  # cached
    events = [
        Event(f"p{(i * 7) % 11}", 1 + i % 5, start + timedelta(seconds=i), 0, uuid.uuid4())
        for i in range(60)
    ]

    produce(((e.player.encode(), _event_json(e)) for e in events[:25]), topic)
    consume_until_idle(topic)
    placed_first = dict(BucketMember.objects.values_list("player__external_id", "position"))
    assert cache_build_board(board, force=True) == "ready"
    produce(((e.player.encode(), _event_json(e)) for e in events[25:]), topic)
    consume_until_idle(topic)

    placed = dict(BucketMember.objects.values_list("player__external_id", "position"))
    assert placed.items() >= placed_first.items()  # places never change
    assert sorted(placed) == sorted({e.player for e in events})
    assert sorted(placed.values()) == list(range(1, 12))
    scores = {s.player_id: s.score for s in store.top(board, 0, 100).standings}
    for bucket in (1, 2, 3):
        members = [p for p, n in placed.items() if (n - 1) // 4 + 1 == bucket]
        _count, entries = board_bucket_entries(board, bucket, offset=0, limit=10)
        expected = reference(
            [e for e in events if e.player in members],
            Aggregation.SUM,
            SortOrder.DESC,
            TieBreak.PLAYER_ID,
        )
        assert [(e.rank, e.player_id, e.score) for e in entries] == expected
        assert {e.player_id: e.score for e in entries} == {p: scores[p] for p in members}


def test_a_message_that_makes_the_consumer_raise_is_rejected_after_n_tries(
    topic, store, settings, monkeypatch
):
    """The poison-pill rule: a consumer bug that one message trips (here: storing player
    "poison" raises) costs that message, after INGEST_MAX_ATTEMPTS tries alone; every other
    event of the batch, before and after it, counts once."""
    settings.INGEST_MAX_ATTEMPTS = 3
    board = BoardFactory()
    cache_build_board(board)
    insert = recording.deltas_insert_batch
    tries_alone = []

    def insert_with_a_bug(*, rows):
        if any(row.player_id == "poison" for row in rows):
            if len(rows) == 1:
                tries_alone.append(rows[0].dedupe_key)
            raise ValueError("a bug that only this player trips")
        return insert(rows=rows)

    monkeypatch.setattr(recording, "deltas_insert_batch", insert_with_a_bug)
    good = list(score_events(40, players=8))
    poison = json.dumps({"player_id": "poison", "delta": 5, "event_id": "bad-1"}).encode()
    # One partition, so the poison sits in the middle of the partition's sequence too.
    produce([(b"k", v) for _, v, _, _ in good[:20]], topic)
    produce([(b"k", poison)], topic)
    produce([(b"k", v) for _, v, _, _ in good[20:]], topic)

    results = consume_until_idle(topic)

    assert len(tries_alone) == 3
    [rejected] = RejectedEvent.objects.filter(topic=topic)
    assert rejected.reason == Reason.CONSUMER_ERROR
    assert rejected.detail.startswith("ValueError: a bug that only this player trips")
    assert bytes(rejected.raw) == poison
    assert stored_totals() == expected_totals(good)
    assert not Player.objects.filter(external_id="poison").exists()  # its transaction undone
    assert sum(r.accepted for r in results) == len(good)
    assert sum(r.rejected for r in results) == 1
    [(_partition, next_offset)] = offsets_for_topic(topic=topic).items()
    assert next_offset == len(good) + 1
    cached = {s.player_id: s.score for s in store.top(board, 0, 100).standings}
    assert cached == expected_totals(good)
