"""leaderboards/models.py: the BoardQuerySet filters by status, that they agree with
`Board.status_at`, and `Board.covers` (which deltas count on a board)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leaderboards.models import Board, BoardStatus
from tests.factories import BoardFactory

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
GRACE = timedelta(minutes=10)


@pytest.fixture
def boards(db) -> dict[str, Board]:
    """One board per situation at NOW, by slug."""
    specs = {
        "upcoming": (NOW + DAY, NOW + 2 * DAY, None),
        "upcoming-open": (NOW + timedelta(seconds=1), None, None),
        "starts-now": (NOW, NOW + DAY, None),  # the start is inside the window
        "live": (NOW - DAY, NOW + DAY, None),
        "live-open": (NOW - DAY, None, None),
        "ends-now": (NOW - DAY, NOW, None),  # the end is not
        "ended-in-grace": (NOW - DAY, NOW - timedelta(minutes=5), None),
        "ended-at-grace": (NOW - DAY, NOW - GRACE, None),
        "ended-long-ago": (NOW - 10 * DAY, NOW - 9 * DAY, None),
        "finalized": (NOW - 10 * DAY, NOW - 9 * DAY, NOW - 8 * DAY),
        "finalized-in-grace": (NOW - DAY, NOW - timedelta(minutes=1), NOW),
        "finalized-while-live": (NOW - DAY, None, NOW - timedelta(hours=1)),
    }
    return {
        slug: BoardFactory(slug=slug, starts_at=starts, ends_at=ends, finalized_at=finalized)
        for slug, (starts, ends, finalized) in specs.items()
    }


def slugs(queryset) -> set[str]:
    return set(queryset.values_list("slug", flat=True))


def test_finalized_is_every_board_with_final_standings(boards):
    assert slugs(Board.objects.finalized()) == {
        "finalized",
        "finalized-in-grace",
        "finalized-while-live",
    }


def test_upcoming_is_every_unfinalised_board_not_started_yet(boards):
    assert slugs(Board.objects.upcoming(NOW)) == {"upcoming", "upcoming-open"}


def test_live_is_every_unfinalised_board_open_now(boards):
    assert slugs(Board.objects.live(NOW)) == {"starts-now", "live", "live-open"}


def test_ended_is_every_unfinalised_board_past_its_end(boards):
    assert slugs(Board.objects.ended(NOW)) == {
        "ends-now",
        "ended-in-grace",
        "ended-at-grace",
        "ended-long-ago",
    }


@pytest.mark.parametrize("status", BoardStatus.values)
def test_with_status_agrees_with_status_at(boards, status):
    expected = {slug for slug, board in boards.items() if board.status_at(NOW) == status}

    assert expected  # every status has a board here, so the comparison means something
    assert slugs(Board.objects.with_status(status, NOW)) == expected


def test_every_board_has_exactly_one_status(boards):
    found = [
        slug
        for status in BoardStatus.values
        for slug in slugs(Board.objects.with_status(status, NOW))
    ]

    assert sorted(found) == sorted(boards)


def test_live_with_grace_adds_boards_ended_less_than_grace_ago(boards):
    assert slugs(Board.objects.live(NOW, grace=GRACE)) == {
        "starts-now",
        "live",
        "live-open",
        "ends-now",
        "ended-in-grace",
    }


def test_a_zero_grace_is_the_same_as_none(boards):
    assert slugs(Board.objects.live(NOW, grace=timedelta(0))) == slugs(Board.objects.live(NOW))


def test_the_filters_chain_with_other_filters(boards):
    BoardFactory(slug="kills-live", metric="kills", starts_at=NOW - DAY)

    assert slugs(Board.objects.filter(metric="kills").live(NOW)) == {"kills-live"}


# -- Board.covers: no database needed -------------------------------------------------------

WINDOW = Board(metric="score", starts_at=NOW, ends_at=NOW + DAY)


def test_covers_counts_the_start_of_the_window():
    assert WINDOW.covers("score", NOW)
    assert WINDOW.covers("score", NOW + DAY / 2)


def test_covers_excludes_what_comes_before_the_start():
    assert not WINDOW.covers("score", NOW - timedelta(milliseconds=1))


def test_covers_excludes_the_end_of_the_window():
    assert WINDOW.covers("score", NOW + DAY - timedelta(milliseconds=1))
    assert not WINDOW.covers("score", NOW + DAY)


def test_covers_excludes_another_metric():
    assert not WINDOW.covers("kills", NOW + timedelta(hours=1))
    assert not WINDOW.covers("Score", NOW + timedelta(hours=1))


def test_an_open_ended_board_covers_everything_from_its_start():
    board = Board(metric="score", starts_at=NOW, ends_at=None)

    assert board.covers("score", NOW + 10_000 * DAY)
    assert not board.covers("score", NOW - timedelta(milliseconds=1))
