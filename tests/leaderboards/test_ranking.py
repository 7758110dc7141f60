"""leaderboards/ranking.py: competition ranks for a run of rows in board order, and the
Window a board ranks over."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from leaderboards.models import Board
from leaderboards.ranking import RANKING_FIELDS, Standing, Window, competition_ranked


def ranks(rows, *, start=0, better_than_first=0) -> list[tuple[int, str, int]]:
    standings = competition_ranked(rows, start=start, better_than_first=better_than_first)
    return [(s.rank, s.player_id, s.score) for s in standings]


def test_tied_scores_share_a_rank_and_the_next_rank_skips():
    rows = [("a", 50), ("b", 40), ("c", 40), ("d", 30)]

    assert ranks(rows) == [(1, "a", 50), (2, "b", 40), (2, "c", 40), (4, "d", 30)]


def test_competition_ranked_returns_standings():
    assert competition_ranked([("a", 1)], start=0, better_than_first=0) == [
        Standing(rank=1, player_id="a", score=1)
    ]


def test_everyone_tied_ranks_first():
    assert [r for r, _, _ in ranks([("a", 7), ("b", 7), ("c", 7)])] == [1, 1, 1]


def test_a_page_starting_mid_tie_keeps_the_rank_of_the_tie():
    # Board: a 50, b 40, c 40, d 40, e 30. The page holds places 2.. (0-based): c, d, e;
    # one player (a) scores better than c.
    rows = [("c", 40), ("d", 40), ("e", 30)]

    assert ranks(rows, start=2, better_than_first=1) == [
        (2, "c", 40),
        (2, "d", 40),
        (5, "e", 30),
    ]


def test_a_page_starting_after_a_tie_ranks_by_place():
    rows = [("e", 30), ("f", 20)]

    assert ranks(rows, start=4, better_than_first=4) == [(5, "e", 30), (6, "f", 20)]


def test_ranks_follow_score_changes_whatever_the_direction():
    # An ascending board (lowest first) hands rows over in that order.
    rows = [("fast", 61_000), ("also-fast", 61_000), ("slow", 75_000)]

    assert [r for r, _, _ in ranks(rows)] == [1, 1, 3]


def test_no_rows_give_no_standings():
    assert competition_ranked([], start=0, better_than_first=0) == []
    assert competition_ranked(iter(()), start=10, better_than_first=3) == []


def test_window_of_board_copies_what_the_board_ranks():
    board = Board(
        metric="lap_ms",
        starts_at=datetime(2026, 1, 1, tzinfo=UTC),
        ends_at=datetime(2026, 2, 1, tzinfo=UTC),
        aggregation="min",
        sort_order="asc",
    )

    assert Window.of_board(board) == Window(
        metric="lap_ms",
        starts_at=datetime(2026, 1, 1, tzinfo=UTC),
        ends_at=datetime(2026, 2, 1, tzinfo=UTC),
        aggregation="min",
        sort_order="asc",
    )


def test_window_of_an_open_board_has_no_end_and_the_default_ordering():
    board = Board(metric="score", starts_at=datetime(2026, 1, 1, tzinfo=UTC))

    window = Window.of_board(board)

    assert window.ends_at is None
    assert (window.aggregation, window.sort_order) == ("sum", "desc")


def test_a_window_holds_the_ranking_fields_and_the_board_it_follows():
    assert [f.name for f in dataclasses.fields(Window)] == [*RANKING_FIELDS, "board_id"]
    assert {f.name for f in Board._meta.concrete_fields} >= set(RANKING_FIELDS)


def test_a_window_is_built_by_keyword_only():
    with pytest.raises(TypeError):
        Window("score", None, None)  # type: ignore[misc]
