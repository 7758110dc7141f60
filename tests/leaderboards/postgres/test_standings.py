"""Standings from rollups and the delta log (leaderboards/postgres/standings.py) against the plain
GROUP BY over the log, which is the definition they must match."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from leaderboards.models import Aggregation, ScoreCut, SortOrder, TieBreak
from leaderboards.postgres.rollups import SAFETY_MARGIN, rollups_advance
from leaderboards.postgres.standings import (
    standings_around,
    standings_count,
    standings_for_players,
    standings_page,
    standings_ranked_stream,
    standings_stream,
)
from leaderboards.ranking import Window
from tests.factories import BoardFactory, PlayerFactory
from tests.leaderboards.postgres.test_rollups import (
    DAY0,
    INGESTED,
    MS,
    Delta,
    advance_past,
    insert_deltas,
)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(weeks=1)
# Ids whose byte order differs from a case-insensitive or numeric one, to check tie order.
PLAYER_IDS = ["p10", "p2", "P3", "a", "Zed"]


def same(window: Window) -> None:
    """Every read of `window` is the same with and without rollups."""
    pages = [standings_page(window, offset=0, limit=100, use_rollups=u) for u in (True, False)]
    assert pages[0] == pages[1]
    assert standings_page(window, offset=1, limit=2) == standings_page(
        window, offset=1, limit=2, use_rollups=False
    )
    assert standings_count(window) == standings_count(window, use_rollups=False)
    assert sorted(standings_stream(window)) == sorted(standings_stream(window, use_rollups=False))
    assert list(standings_ranked_stream(window)) == list(
        standings_ranked_stream(window, use_rollups=False)
    )
    assert standings_for_players(window, PLAYER_IDS[:3]) == standings_for_players(
        window, PLAYER_IDS[:3], use_rollups=False
    )
    assert standings_around(window, "p2", 1) == standings_around(window, "p2", 1, use_rollups=False)


def clear() -> None:
    with connection.cursor() as cursor:
        for table in (
            "hourlyrollup",
            "dailyrollup",
            "weeklyrollup",
            "rollupwatermark",
            "scoredelta",
        ):
            cursor.execute(f"DELETE FROM leaderboards_{table}")


def player_pks() -> list[int]:
    return [PlayerFactory(external_id=external_id).pk for external_id in PLAYER_IDS]


# -- the property ------------------------------------------------------------------------

# Event times from the weekend before DAY0 (a Monday) into the week after, so whole hours,
# days and ISO weeks all occur.
FIRST = DAY0 - 2 * DAY
SPAN = 11 * DAY
# A moment many deltas share, for ties on event time.
BUSY = DAY0 + timedelta(hours=13, minutes=20)


@st.composite
def moments(draw) -> datetime:
    """Times over the span, often on or a millisecond off an hour, day or week boundary."""
    kind = draw(st.sampled_from(["any", "hour", "day", "week", "busy"]))
    if kind == "busy":
        return BUSY
    if kind == "any":
        return FIRST + draw(st.integers(0, SPAN // MS)) * MS
    step = {"hour": HOUR, "day": DAY, "week": WEEK}[kind]
    origin = DAY0 if kind == "week" else FIRST
    boundary = origin + draw(st.integers(0, (FIRST + SPAN - origin) // step)) * step
    return max(boundary + draw(st.sampled_from([-1, 0, 0, 1])) * MS, FIRST)


@st.composite
def one_bucket(draw) -> tuple[datetime, datetime]:
    """Exactly one hour, UTC day or ISO week of the span (read without grouping)."""
    step = draw(st.sampled_from([HOUR, DAY, WEEK]))
    origin = DAY0 - WEEK if step == WEEK else FIRST
    start = origin + draw(st.integers(0, (FIRST + SPAN - origin) // step)) * step
    return start, start + step


deltas_strategy = st.lists(
    st.tuples(
        st.integers(0, len(PLAYER_IDS) - 1),
        st.sampled_from(["score", "score", "score", "time"]),
        st.integers(-20, 20),
        moments(),
        st.integers(0, 3),  # the ingest phase
        st.sampled_from([0, 0, 1]),  # milliseconds into the phase
        st.uuids(),
    ),
    max_size=50,
)
# After each ingest phase, maybe a rollup run, with the watermark just before, at, or
# after the phase's deltas (or well after).
advances_strategy = st.lists(
    st.one_of(st.none(), st.sampled_from([-MS, timedelta(0), 3 * MS, HOUR])),
    min_size=4,
    max_size=4,
)


def bounds(deltas) -> st.SearchStrategy:
    """A window bound: open, any moment, or right at or next to one of the deltas."""
    near = [
        created + shift
        for _, metric, _, created, *_ in deltas
        if metric == "score"
        for shift in (-MS, 0 * MS, MS)
    ]
    options = [st.none(), moments()] + ([st.sampled_from(near)] * 3 if near else [])
    return st.one_of(*options)


@pytest.mark.slow
@pytest.mark.django_db
@settings(max_examples=15, deadline=None)
@given(deltas=deltas_strategy, advances=advances_strategy, data=st.data())
def test_rollup_standings_equal_the_raw_computation(deltas, advances, data):
    clear()
    pks = player_pks()
    for phase, advance in enumerate(advances):
        ingested = INGESTED + phase * HOUR
        insert_deltas(
            [
                Delta(pks[p], metric, value, created, ingested + offset * MS, key)
                for p, metric, value, created, at, offset, key in deltas
                if at == phase
            ]
        )
        if advance is not None:
            rollups_advance(now=ingested + advance + SAFETY_MARGIN)
    for _ in range(3):
        start, end = data.draw(
            st.one_of(st.tuples(bounds(deltas), bounds(deltas)), one_bucket()), label="window"
        )
        if start is not None and end is not None and start >= end:
            start, end = end, start + MS
        for aggregation in Aggregation.values:
            for order in SortOrder.values:
                for tie_break in TieBreak.values:
                    same(
                        Window(
                            metric="score",
                            starts_at=start,
                            ends_at=end,
                            aggregation=aggregation,
                            sort_order=order,
                            tie_break=tie_break,
                        )
                    )


# -- removed scores (ScoreCut): the rollups agree with the log, and the log with a log
# that never held the deltas cut ---------------------------------------------------------

CUT_WINDOWS = [
    (None, None),
    (DAY0, DAY0 + DAY),  # one daily bucket: its rows joined with the tail
    (DAY0, DAY0 + WEEK),  # one weekly bucket
    (DAY0 - 2 * DAY + 30 * timedelta(minutes=1), DAY0 + WEEK + DAY + HOUR),  # every grain
]


def every_read(window: Window) -> tuple:
    return (
        standings_page(window, offset=0, limit=100, use_rollups=False),
        sorted(standings_stream(window, use_rollups=False)),
        standings_for_players(window, PLAYER_IDS, use_rollups=False),
    )


@pytest.mark.slow
@pytest.mark.django_db
@settings(max_examples=15, deadline=None)
@given(
    deltas=deltas_strategy,
    advances=advances_strategy,
    cuts=st.dictionaries(st.integers(0, len(PLAYER_IDS) - 1), moments(), max_size=3),
    order=st.sampled_from(SortOrder.values),
)
def test_removed_scores_leave_the_rollups_and_the_log_alike(deltas, advances, cuts, order):
    clear()
    ScoreCut.objects.all().delete()
    pks = player_pks()
    board = BoardFactory()
    for phase, advance in enumerate(advances):
        ingested = INGESTED + phase * HOUR
        insert_deltas(
            [
                Delta(pks[p], metric, value, created, ingested + offset * MS, key)
                for p, metric, value, created, at, offset, key in deltas
                if at == phase
            ]
        )
        if advance is not None:
            rollups_advance(now=ingested + advance + SAFETY_MARGIN)
    for player, cut_at in cuts.items():
        ScoreCut.objects.create(board=board, player_id=pks[player], cut_at=cut_at)
    windows = [
        Window(
            metric="score",
            starts_at=start,
            ends_at=end,
            aggregation=aggregation,
            sort_order=order,
            tie_break=tie_break,
            board_id=board.pk,
        )
        for start, end in CUT_WINDOWS
        for aggregation in Aggregation.values
        for tie_break in TieBreak.values
    ]
    for window in windows:
        same(window)
    cut = [(window, every_read(window)) for window in windows]

    # The same windows read from a log without the deltas cut, as no board's (no cuts).
    with connection.cursor() as cursor:
        for player, cut_at in cuts.items():
            cursor.execute(
                "DELETE FROM leaderboards_scoredelta WHERE player_id = %s AND created_at <= %s",
                [pks[player], cut_at],
            )
    for window, reads in cut:
        assert every_read(replace(window, board_id=None)) == reads, (window, cuts)


@pytest.mark.django_db
def test_a_cut_on_one_board_leaves_other_boards_and_ranges_alone():
    ann, bob = (PlayerFactory(external_id=name).pk for name in ("ann", "bob"))
    insert_deltas(
        [
            Delta(ann, "score", 5, DAY0 + HOUR, INGESTED),
            Delta(ann, "score", 7, DAY0 + 3 * HOUR, INGESTED),
            Delta(bob, "score", 3, DAY0 + 2 * HOUR, INGESTED),
        ]
    )
    advance_past(INGESTED)
    cut, other = BoardFactory(), BoardFactory()
    ScoreCut.objects.create(board=cut, player_id=ann, cut_at=DAY0 + 2 * HOUR)

    def scores(board_id):
        window = Window(metric="score", starts_at=DAY0, ends_at=DAY0 + DAY, board_id=board_id)
        return [(s.player_id, s.score) for s in standings_page(window, offset=0, limit=9).standings]

    assert scores(cut.pk) == [("ann", 7), ("bob", 3)]
    assert scores(other.pk) == scores(None) == [("ann", 12), ("bob", 3)]


# -- which grain serves which part --------------------------------------------------------


def bump(table: str, bucket: datetime, by: int) -> None:
    """Falsify one rollup row, to see whether a query reads it."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE leaderboards_{table} SET total = total + %s WHERE bucket = %s",
            [by, bucket],
        )


def sum_for(start: datetime | None, end: datetime | None) -> int:
    page = standings_page(Window(metric="score", starts_at=start, ends_at=end), offset=0, limit=1)
    return page.standings[0].score


@pytest.mark.django_db
def test_each_part_of_a_window_comes_from_the_coarsest_grain_that_fits_and_edges_from_the_log():
    ann = PlayerFactory(external_id="ann").pk
    times = [DAY0 + HOUR * h + timedelta(minutes=30) for h in range(0, 48, 3)]
    times.append(DAY0 + WEEK + HOUR)  # in the next week
    insert_deltas([Delta(ann, "score", 1, t, INGESTED) for t in times])
    advance_past(INGESTED)
    bump("weeklyrollup", DAY0, 10_000)
    bump("dailyrollup", DAY0, 1_000)
    bump("hourlyrollup", DAY0 + 3 * HOUR, 100)

    def log(start, end):
        return sum(1 for t in times if (start is None or t >= start) and (end is None or t < end))

    # A whole week: the weekly row (falsified by 10,000), not the daily or hourly ones.
    assert sum_for(DAY0, DAY0 + WEEK) == log(DAY0, DAY0 + WEEK) + 10_000
    assert sum_for(None, None) == log(None, None) + 10_000
    assert sum_for(DAY0, None) == log(DAY0, None) + 10_000
    assert sum_for(DAY0 - DAY, DAY0 + WEEK + 2 * DAY) == log(None, None) + 10_000
    # A whole day but no whole week: the daily row (falsified by 1,000).
    assert sum_for(DAY0, DAY0 + DAY) == log(DAY0, DAY0 + DAY) + 1_000
    assert sum_for(None, DAY0 + DAY) == log(None, DAY0 + DAY) + 1_000
    assert sum_for(DAY0, DAY0 + WEEK - HOUR) == log(DAY0, DAY0 + WEEK) + 1_000
    # Whole hours but not the whole day: the hourly rows (one falsified by 100).
    assert sum_for(DAY0 + HOUR, DAY0 + DAY) == log(DAY0 + HOUR, DAY0 + DAY) + 100
    assert sum_for(DAY0 + 4 * HOUR, DAY0 + 2 * DAY) == log(DAY0 + 4 * HOUR, DAY0 + 2 * DAY)
    # Partial hours at the edges come from the log.
    start = DAY0 + 3 * HOUR + timedelta(minutes=31)
    assert sum_for(start, DAY0 + DAY) == log(start, DAY0 + DAY)
    start = DAY0 + 2 * HOUR + timedelta(minutes=29)
    assert sum_for(start, DAY0 + 5 * HOUR) == log(start, DAY0 + 5 * HOUR) + 100
    # Less than an hour, or no whole hour inside: the log only.
    start = DAY0 + 3 * HOUR + timedelta(minutes=10)
    assert sum_for(start, start + timedelta(minutes=59)) == 1


@pytest.mark.django_db
def test_deltas_past_the_watermark_are_read_from_the_log():
    ann, bob = (PlayerFactory(external_id=name).pk for name in ("ann", "bob"))
    insert_deltas([Delta(ann, "score", 5, DAY0 + HOUR, INGESTED)])
    advance_past(INGESTED)
    # A late event for the same (already rolled-up) hour, after the watermark, and a player
    # with nothing rolled up yet.
    insert_deltas(
        [
            Delta(ann, "score", 7, DAY0 + HOUR, INGESTED + DAY),
            Delta(bob, "score", 3, DAY0 + 2 * HOUR, INGESTED + DAY),
        ]
    )

    assert sum_for(DAY0, DAY0 + DAY) == 12
    # One bucket (its rows joined with the tail), and several.
    for start, end in ((DAY0, DAY0 + DAY), (DAY0, DAY0 + WEEK), (DAY0, DAY0 + 2 * DAY)):
        for aggregation in Aggregation.values:
            for order in SortOrder.values:
                for tie_break in TieBreak.values:
                    same(
                        Window(
                            metric="score",
                            starts_at=start,
                            ends_at=end,
                            aggregation=aggregation,
                            sort_order=order,
                            tie_break=tie_break,
                        )
                    )


@pytest.mark.django_db
def test_without_a_watermark_standings_read_the_log():
    ann = PlayerFactory(external_id="ann").pk
    insert_deltas([Delta(ann, "score", 5, DAY0 + HOUR, INGESTED)])

    assert sum_for(DAY0, DAY0 + DAY) == 5


@pytest.mark.django_db
@pytest.mark.parametrize("use_rollups", [True, False])
def test_the_stream_gives_the_exact_epoch_milliseconds_of_a_last_score(use_rollups):
    ann, bob = (PlayerFactory(external_id=name).pk for name in ("ann", "bob"))
    ann_at = DAY0 + timedelta(hours=2, milliseconds=123)
    bob_at = datetime(1969, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)  # before the epoch
    insert_deltas(
        [
            Delta(ann, "score", 4, ann_at - MS, INGESTED),
            Delta(ann, "score", 9, ann_at, INGESTED),
            Delta(bob, "score", 6, bob_at, INGESTED),
        ]
    )
    advance_past(INGESTED)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)

    last = Window(metric="score", starts_at=None, ends_at=None, aggregation=Aggregation.LAST)
    assert sorted(standings_stream(last, use_rollups=use_rollups)) == [
        ("ann", 9, (ann_at - epoch) // MS),
        ("bob", 6, -1),
    ]
    summed = Window(metric="score", starts_at=None, ends_at=None, aggregation=Aggregation.SUM)
    assert sorted(standings_stream(summed, use_rollups=use_rollups)) == [
        ("ann", 13, None),
        ("bob", 6, None),
    ]


@pytest.mark.django_db
def test_a_page_past_the_end_still_counts_the_players():
    ann = PlayerFactory(external_id="ann").pk
    insert_deltas([Delta(ann, "score", 5, DAY0 + HOUR, INGESTED)])
    advance_past(INGESTED)
    window = Window(metric="score", starts_at=DAY0, ends_at=DAY0 + DAY)

    page = standings_page(window, offset=5, limit=10)

    assert (page.count, page.standings) == (1, [])
    assert standings_page(window, offset=0, limit=0).count == 1


@pytest.mark.django_db
def test_ties_at_the_page_boundary_are_ranked_and_ordered_as_without_rollups():
    pks = player_pks()
    insert_deltas(
        [Delta(pk, "score", 7, DAY0 + HOUR, INGESTED, uuid.uuid4()) for pk in pks]
        + [Delta(pks[0], "score", 8, DAY0 + 2 * HOUR, INGESTED)]
    )
    advance_past(INGESTED)
    window = Window(metric="score", starts_at=DAY0, ends_at=DAY0 + DAY, aggregation=Aggregation.MAX)

    for offset in range(len(pks)):
        assert standings_page(window, offset=offset, limit=2) == standings_page(
            window, offset=offset, limit=2, use_rollups=False
        )
    ranks = [(s.rank, s.player_id) for s in standings_page(window, offset=0, limit=10).standings]
    assert ranks == [(1, "p10"), (2, "P3"), (2, "Zed"), (2, "a"), (2, "p2")]


@pytest.mark.django_db
def test_a_tie_on_event_and_arrival_time_goes_to_the_higher_dedupe_key_wherever_it_is_read():
    ann = PlayerFactory(external_id="ann").pk
    low, high = uuid.UUID(int=1), uuid.UUID(int=2)
    rolled_up = DAY0 + timedelta(hours=13, minutes=20)
    insert_deltas(
        [
            Delta(ann, "score", 2, rolled_up, INGESTED, high),
            Delta(ann, "score", 1, rolled_up, INGESTED, low),
        ]
    )
    advance_past(INGESTED)
    past_watermark = rolled_up + HOUR
    insert_deltas(
        [
            Delta(ann, "score", 4, past_watermark, INGESTED + DAY, uuid.UUID(int=4)),
            Delta(ann, "score", 3, past_watermark, INGESTED + DAY, uuid.UUID(int=3)),
        ]
    )

    for start, end, last in [
        (DAY0, rolled_up + MS, 2),  # whole hours, then the log at the end
        (DAY0, DAY0 + DAY, 4),  # a rolled-up day and the tail past the watermark
        (rolled_up - timedelta(minutes=1), rolled_up + timedelta(minutes=1), 2),  # the log
        (rolled_up - timedelta(minutes=1), DAY0 + DAY, 4),  # edge, hours and tail
    ]:
        window = Window(metric="score", starts_at=start, ends_at=end, aggregation=Aggregation.LAST)
        assert standings_page(window, offset=0, limit=1).standings[0].score == last
        same(window)
