"""leaderboards/services.py: creating, editing and deleting boards, and what those do to the
board's cached copy in Redis (dropped after the commit when what it ranks changes).

Real PostgreSQL and Redis; the database commits (transactional_db) because the drop is an
on-commit callback and a cache build needs a transaction of its own.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from leaderboards.cache.builds import cache_build_board
from leaderboards.cache.store import reset_store
from leaderboards.models import Board
from leaderboards.services import board_create, board_delete, board_update
from tests.factories import BoardFactory, ScoreDeltaFactory

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def cached_board(store):
    board = BoardFactory(slug="b", name="B", starts_at=START, ends_at=START + timedelta(days=30))
    ScoreDeltaFactory(player__external_id="p1", delta=5, created_at=START + timedelta(days=1))
    assert cache_build_board(board) == "ready"
    assert store.state(board) == "ready"
    return board


@pytest.fixture
def redis_nowhere(settings):
    """The store pointed at a port where nothing listens."""
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    reset_store()
    yield
    reset_store()


def test_renaming_a_board_keeps_its_cached_copy(store, cached_board):
    board_update(board=cached_board, data={"name": "Renamed", "slug": "renamed"})

    assert store.state(cached_board) == "ready"
    assert Board.objects.values_list("slug", "name").get(pk=cached_board.pk) == (
        "renamed",
        "Renamed",
    )


@pytest.mark.parametrize(
    "data",
    [
        {"ends_at": START + timedelta(days=7)},
        {"starts_at": START + timedelta(days=2)},
        {"metric": "kills"},
        {"aggregation": "max"},
        {"sort_order": "asc"},
    ],
    ids=lambda data: next(iter(data)),
)
def test_changing_what_a_board_ranks_drops_its_cached_copy(store, cached_board, data):
    board_update(board=cached_board, data=data)

    assert store.state(cached_board) is None
    assert cached_board.pk not in store.cached_board_ids()
    field, value = next(iter(data.items()))
    assert getattr(Board.objects.get(pk=cached_board.pk), field) == value


def test_setting_a_ranking_field_to_its_current_value_keeps_the_cache(store, cached_board):
    board_update(board=cached_board, data={"ends_at": cached_board.ends_at, "name": "Renamed"})

    assert store.state(cached_board) == "ready"


def test_an_edit_rolled_back_keeps_the_cache_and_the_old_window(store, cached_board):
    with transaction.atomic():
        board_update(board=cached_board, data={"ends_at": START + timedelta(days=7)})
        assert store.state(cached_board) == "ready"  # not before the commit
        transaction.set_rollback(True)

    assert store.state(cached_board) == "ready"
    assert Board.objects.get(pk=cached_board.pk).ends_at == START + timedelta(days=30)


def test_an_invalid_update_raises_and_changes_nothing(store, cached_board):
    with pytest.raises(ValidationError) as raised:
        board_update(board=cached_board, data={"ends_at": START - timedelta(days=1)})

    assert raised.value.message_dict == {
        "ends_at": ["Must be after starts_at (the window is [starts_at, ends_at))."]
    }

    stored = Board.objects.get(pk=cached_board.pk)
    assert (stored.starts_at, stored.ends_at) == (START, START + timedelta(days=30))
    assert store.state(cached_board) == "ready"


def test_deleting_a_board_removes_the_row_and_its_cached_copy(store, cached_board):
    board_delete(board=cached_board)

    assert not Board.objects.filter(slug="b").exists()
    assert store.state(cached_board) is None
    assert store.cached_board_ids() == set()


def test_board_create_saves_a_board_with_the_defaults():
    board = board_create(slug="all-time", name="All time", starts_at=START)

    stored = Board.objects.get(pk=board.pk)
    assert (stored.slug, stored.metric, stored.aggregation, stored.sort_order) == (
        "all-time",
        "score",
        "sum",
        "desc",
    )
    assert stored.ends_at is None


def test_board_create_with_a_taken_slug_names_the_slug():
    BoardFactory(slug="taken", name="First")

    with pytest.raises(ValidationError) as raised:
        board_create(slug="taken", name="Second", starts_at=START)

    assert raised.value.message_dict == {"slug": ["Board with this Slug already exists."]}
    assert list(Board.objects.values_list("name", flat=True)) == ["First"]


def test_board_create_with_an_empty_window_is_refused():
    with pytest.raises(ValidationError):
        board_create(slug="empty", name="Empty", starts_at=START, ends_at=START)

    assert not Board.objects.exists()


def test_with_redis_unreachable_the_drop_is_logged_not_raised(redis_nowhere, caplog):
    board = BoardFactory(slug="b", starts_at=START)
    board_id = board.pk  # delete() clears it

    with caplog.at_level(logging.WARNING, logger="leaderboards.cache.builds"):
        board_update(board=board, data={"metric": "kills"})
        board_delete(board=board)

    assert not Board.objects.exists()
    dropped = [r.getMessage() for r in caplog.records if "could not drop" in r.getMessage()]
    assert len(dropped) == 2
    assert all(f"board {board_id}:" in message for message in dropped)
