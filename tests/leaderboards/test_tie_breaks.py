"""Tie-breaks: every place a board is ranked (PostgreSQL from the log and from the rollups,
Redis fed batch by batch and Redis built from a snapshot, final standings, the CSV) against
one reference computed here from the events, for every aggregation, order and tie-break.

`earliest`: among equal scores, whoever reached the score first is ahead, and ranks are
ordinal. Reached: for max and min the first event with the best value, for sum the latest
event counted, for last that event (leaderboards/ranking.py).
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.batches import DecodedBatch, store_batch
from ingestion.events import ScoreEvent
from leaderboards.cache.apply import cache_apply_batch
from leaderboards.cache.builds import cache_build_board
from leaderboards.cache.store import get_store
from leaderboards.models import Aggregation, Board, SortOrder, TieBreak
from leaderboards.postgres.final import final_page
from leaderboards.postgres.rollups import rollups_advance
from leaderboards.postgres.standings import standings_for_players, standings_ranked_stream
from leaderboards.ranking import Standing, Window
from leaderboards.selectors import board_standings_csv
from leaderboards.services import board_finalize

pytestmark = pytest.mark.django_db(transaction=True)

# Ids whose byte order differs from a case-insensitive one.
PLAYERS = ["b", "a", "B", "c10", "c2"]
# The window holds whole hours and a whole day between partial hours at its edges, so the
# rollups serve it from buckets and the log at once.
STARTS = datetime(2026, 11, 2, 22, 30, tzinfo=UTC)
ENDS = STARTS + timedelta(days=1, hours=3)
# A few moments, so that players often share one: ties on time as well as on score.
MOMENTS = [
    STARTS,
    STARTS + timedelta(minutes=20),
    STARTS + timedelta(hours=1, minutes=30),
    STARTS + timedelta(hours=1, minutes=30, milliseconds=1),
    STARTS + timedelta(hours=5),
    STARTS + timedelta(hours=25, minutes=45),
    ENDS - timedelta(milliseconds=1),
]
COMBINATIONS = [
    (aggregation, order, tie_break)
    for aggregation in Aggregation.values
    for order in SortOrder.values
    for tie_break in TieBreak.values
]


@dataclass(frozen=True)
class Event:
    player: str
    value: int
    created_at: datetime
    batch: int
    key: uuid.UUID


def counted(
    events: list[Event], joined: dict[str, datetime] | None = None, attempts: int | None = None
) -> list[Event]:
    """The events that count on a tournament board: with `joined` (player -> join time) only
    participants' events stamped at or after their join; with `attempts` only each
    player's first that many of those, by created_at then dedupe key."""
    if joined is not None:
        events = [e for e in events if e.player in joined and e.created_at >= joined[e.player]]
    if attempts is not None:
        ordered = sorted(events, key=lambda e: (e.created_at, e.key.bytes))
        taken: dict[str, int] = {}
        kept = []
        for e in ordered:
            taken[e.player] = taken.get(e.player, 0) + 1
            if taken[e.player] <= attempts:
                kept.append(e)
        events = kept
    return events


def reference(events: list[Event], aggregation: str, order: str, tie_break: str):
    """(rank, player, score) in board order, computed straight from the definition."""
    scores: dict[str, tuple[int, datetime]] = {}
    for player in {e.player for e in events}:
        mine = [e for e in events if e.player == player]
        if aggregation == Aggregation.SUM:
            scores[player] = (sum(e.value for e in mine), max(e.created_at for e in mine))
        elif aggregation == Aggregation.LAST:
            # The latest event: by event time, then arrival (batch), then dedupe key.
            last = max(mine, key=lambda e: (e.created_at, e.batch, e.key.bytes))
            scores[player] = (last.value, last.created_at)
        else:
            best = (max if aggregation == Aggregation.MAX else min)(e.value for e in mine)
            scores[player] = (best, min(e.created_at for e in mine if e.value == best))
    sign = -1 if order == SortOrder.DESC else 1
    earliest = tie_break == TieBreak.EARLIEST

    def key(player: str):
        score, reached = scores[player]
        return (sign * score, reached if earliest else 0, player.encode())

    ranked = sorted(scores, key=key)
    rows = []
    for place, player in enumerate(ranked, start=1):
        score = scores[player][0]
        better = sum(1 for other in ranked if sign * scores[other][0] < sign * score)
        rows.append((place if earliest else better + 1, player, score))
    return rows


def triples(standings) -> list[tuple[int, str, int]]:
    return [(s.rank, s.player_id, s.score) for s in standings]


def clear() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE leaderboards_finalstanding, leaderboards_board, leaderboards_scoredelta,"
            " leaderboards_consumeroffset, leaderboards_hourlyrollup, leaderboards_dailyrollup,"
            " leaderboards_weeklyrollup, leaderboards_rollupwatermark, players_tombstone,"
            " players_player CASCADE"
        )
    get_store().redis.flushdb()


def feed(events: list[Event], batches: int, positions: dict[int, int] | None = None) -> None:
    """Store each batch as the consumer does (one transaction, then the cached boards),
    its events split over two partitions; `positions` (partition -> next offset) carries
    on from an earlier feed and is kept up to date."""
    positions = {} if positions is None else positions
    for number in range(batches):
        batch = DecodedBatch()
        for event in (e for e in events if e.batch == number):
            partition = len(event.player) % 2
            batch.events.append(
                (
                    partition,
                    ScoreEvent(
                        player_id=event.player,
                        metric="score",
                        delta=event.value,
                        created_at=event.created_at,
                        event_id=None,
                        dedupe_key=event.key,
                    ),
                )
            )
        spans = {}
        for partition in (0, 1):
            start = positions.get(partition, -1)
            count = sum(1 for p, _ in batch.events if p == partition)
            batch.next_offsets[partition] = max(start, 0) + max(count, 1)
            spans[partition] = (start, batch.next_offsets[partition])
            positions[partition] = batch.next_offsets[partition]
        new = store_batch(topic=django_settings.KAFKA_TOPIC, batch=batch).new
        cache_apply_batch(deltas=new, positions=spans)


def age(events: list[Event], before_batch: int) -> None:
    """Move the ingest times of the batches before `before_batch` a day back (keeping their
    order), so a rollup run holds them and leaves the rest to the log past its watermark."""
    keys = [e.key for e in events if e.batch < before_batch]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE leaderboards_scoredelta SET ingested_at = ingested_at - interval '1 day'"
            " WHERE dedupe_key = ANY(%s)",
            [keys],
        )


events_strategy = st.integers(1, 4).flatmap(
    lambda batches: st.tuples(
        st.just(batches),
        st.lists(
            st.builds(
                Event,
                player=st.sampled_from(PLAYERS),
                value=st.integers(-1, 2),
                created_at=st.sampled_from(MOMENTS),
                batch=st.integers(0, batches - 1),
                key=st.uuids(),
            ),
            min_size=1,
            max_size=25,
            unique_by=lambda e: e.key,
        ),
        st.integers(0, batches),  # batches the rollups hold
    )
)


@pytest.mark.slow
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(example=events_strategy)
def test_every_ranking_matches_the_reference(redis_client, topic, example):
    batches, events, rolled = example
    clear()
    boards = {
        combination: Board.objects.create(
            slug="-".join(combination).replace("_", ""),
            name="b",
            metric="score",
            starts_at=STARTS,
            ends_at=ENDS,
            aggregation=combination[0],
            sort_order=combination[1],
            tie_break=combination[2],
        )
        for combination in COMBINATIONS
    }
    for board in boards.values():
        assert cache_build_board(board) == "ready"  # empty, then fed batch by batch
    feed(events, batches)
    age(events, rolled)
    rollups_advance()
    store = get_store()

    for combination, board in boards.items():
        expected = reference(events, *combination)
        window = Window.of_board(board)
        label = f"{combination}: {events}"
        with transaction.atomic():
            assert triples(standings_ranked_stream(window, use_rollups=False)) == expected, label
            assert triples(standings_ranked_stream(window)) == expected, label
        fed = store.top(board, 0, 100)
        assert triples(fed.standings) == expected, label
        assert cache_build_board(board, force=True) == "ready"
        assert triples(store.top(board, 0, 100).standings) == expected, label
        middle = expected[len(expected) // 2]
        around = store.around(board, middle[1], 1)
        assert triples(around.standings) == [
            row for row in expected if abs(expected.index(row) - expected.index(middle)) <= 1
        ], label
        asked = [PLAYERS[0], PLAYERS[3]]
        assert triples(store.ranks(board, asked).standings) == [
            row for row in expected if row[1] in asked
        ], label
        assert {
            s.player_id: (s.rank, s.player_id, s.score)
            for s in standings_for_players(window, asked).values()
        } == {row[1]: row for row in expected if row[1] in asked}, label
        assert board_finalize(board.pk)
        assert triples(final_page(board.pk, offset=0, limit=100).standings) == expected, label
        board.refresh_from_db()
        rows = list(csv.reader(io.StringIO("".join(board_standings_csv(board)))))[1:]
        assert [(int(r[0]), r[1], int(r[3])) for r in rows] == expected, label


def test_a_sum_is_reached_by_its_latest_event_and_a_best_by_its_first(redis_client, topic):
    """The rule in words, on one small case: equal sums, the earlier finisher ahead; equal
    bests, whoever first had it ahead though they improved nothing since."""
    clear()
    t = [STARTS + timedelta(minutes=m) for m in range(5)]
    events = [
        Event("ann", 5, t[0], 0, uuid.uuid4()),
        Event("bob", 3, t[1], 0, uuid.uuid4()),
        Event("bob", 2, t[2], 0, uuid.uuid4()),  # bob's sum 5 reached at t2
        Event("ann", 0, t[3], 0, uuid.uuid4()),  # ann's sum 5, reached at t3
        Event("cy", 5, t[4], 0, uuid.uuid4()),
    ]
    assert [row[1] for row in reference(events, "sum", "desc", "earliest")] == [
        "bob",
        "ann",
        "cy",
    ]
    assert [row[1] for row in reference(events, "max", "desc", "earliest")] == [
        "ann",
        "cy",
        "bob",
    ]
    board = Board.objects.create(
        slug="s", name="s", starts_at=STARTS, ends_at=ENDS, tie_break="earliest"
    )
    assert cache_build_board(board) == "ready"
    feed(events, 1)
    standings = get_store().top(board, 0, 10).standings
    assert standings == [
        Standing(1, "bob", 5),
        Standing(2, "ann", 5),
        Standing(3, "cy", 5),
    ]


def test_a_best_value_seen_again_later_but_stamped_earlier_moves_its_reach(redis_client, topic):
    """Events arrive out of time order: the batch after the first one brings the same best
    value with an earlier time, which is when that best was first reached."""
    clear()
    t = [STARTS + timedelta(minutes=m) for m in range(4)]
    events = [
        Event("ann", 5, t[3], 0, uuid.uuid4()),
        Event("bob", 5, t[1], 0, uuid.uuid4()),
        Event("ann", 5, t[0], 1, uuid.uuid4()),
        Event("bob", 1, t[2], 1, uuid.uuid4()),
    ]
    boards = [
        Board.objects.create(
            slug=f"{aggregation}-{order}",
            name="b",
            starts_at=STARTS,
            ends_at=ENDS,
            aggregation=aggregation,
            sort_order=order,
            tie_break="earliest",
        )
        for aggregation, order in [("max", "desc"), ("min", "asc")]
    ]
    for board in boards:
        assert cache_build_board(board) == "ready"
    feed(events, 2)

    top = get_store().top(boards[0], 0, 10).standings
    assert top == [Standing(1, "ann", 5), Standing(2, "bob", 5)]
    assert get_store().top(boards[1], 0, 10).standings == [
        Standing(1, "bob", 1),
        Standing(2, "ann", 5),
    ]
