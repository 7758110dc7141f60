"""Reads of cached boards ask PostgreSQL nothing: definitions come from the catalog
(leaderboards/cache/catalog.py) and display names from Redis, and both follow every change."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from leaderboards.cache.builds import cache_build_board
from leaderboards.cache.catalog import Catalog, catalog
from leaderboards.cache.read_through import cache_builds_wait
from leaderboards.cache.store import get_store
from leaderboards.cache.sync import cache_sync
from leaderboards.models import Board
from leaderboards.services import board_update
from players.models import Player
from tests.factories import BoardFactory, ScoreDeltaFactory

pytestmark = pytest.mark.django_db(transaction=True)

AT = datetime(2026, 1, 1, 1, tzinfo=UTC)


@pytest.fixture
def board(store):
    board = BoardFactory(slug="b", starts_at=AT - timedelta(hours=1), ends_at=None)
    for player_id, delta in {"p1": 30, "p2": 20}.items():
        ScoreDeltaFactory(player__external_id=player_id, delta=delta, created_at=AT)
    for player in Player.objects.all():
        player.display_name = {"p1": "Ada"}.get(player.external_id, "")
        player.save()
    assert cache_build_board(board) == "ready"
    return board


def entries(client) -> list[tuple[int, str, str, int]]:
    body = client.get("/api/v1/leaderboards/b/entries/").json()
    return [(e["rank"], e["player_id"], e["display_name"], e["score"]) for e in body["results"]]


def test_a_read_of_a_cached_board_makes_no_query(board, django_assert_num_queries):
    client = APIClient()
    entries(client)  # fills the catalog
    catalog.clear()  # this process forgets: the definition comes from Redis

    with django_assert_num_queries(0):
        assert entries(client) == [(1, "p1", "Ada", 30), (2, "p2", "p2", 20)]
        assert client.get("/api/v1/leaderboards/b/players/p2/?around=1").status_code == 200
        ranks = client.post("/api/v1/leaderboards/b/ranks/", {"player_ids": ["p2"]}, format="json")
        assert ranks.json()["results"][0]["rank"] == 2
        assert client.get("/api/v1/leaderboards/b/").json()["name"] == board.name
        assert client.get("/boards/b/").status_code == 200


def test_a_renamed_player_is_read_with_the_new_name(board):
    client = APIClient()
    assert entries(client)[1][2] == "p2"

    player = Player.objects.get(external_id="p2")
    player.display_name = "Grace"
    player.save()

    assert entries(client)[1][2] == "Grace"


def test_a_board_edit_reaches_this_process_at_once_and_others_within_max_age(board, settings):
    other_process = Catalog()
    settings.LEADERBOARD_CATALOG_MAX_AGE_MS = 200
    assert catalog.board("b").name == other_process.board("b").name == board.name

    board_update(board=board, data={"name": "Renamed"})

    assert catalog.board("b").name == "Renamed"
    assert APIClient().get("/api/v1/leaderboards/b/").json()["name"] == "Renamed"
    time.sleep(0.25)
    assert other_process.board("b").name == "Renamed"


def test_a_deleted_board_is_404_at_once(board):
    client = APIClient()
    assert client.get("/api/v1/leaderboards/b/").status_code == 200

    Board.objects.get(pk=board.pk).delete()

    assert client.get("/api/v1/leaderboards/b/").status_code == 404
    assert client.get("/api/v1/leaderboards/b/entries/").status_code == 404


def test_a_definition_read_before_an_invalidation_is_not_written_back(board, store):
    version = store.catalog_version(catalog.key)
    catalog.invalidate()  # a change committed after the reader read PostgreSQL

    assert store.catalog_fill(catalog.key, version, {"board:b": b"stale"}) is False
    assert store.catalog_lookup(catalog.key, "board:b") == (version + 1, None)
    assert store.catalog_fill(catalog.key, version + 1, {"board:b": b"fresh"}) is True


def test_the_cache_sync_rewrites_the_catalog(board, store):
    catalog.invalidate()
    assert store.catalog_lookup(catalog.key, "board:b")[1] is None

    cache_sync()

    assert store.catalog_lookup(catalog.key, "board:b")[1] is not None


def test_a_miss_answers_from_postgresql_and_builds_in_the_background(redis_client):
    board = BoardFactory(slug="b", starts_at=AT - timedelta(hours=1), ends_at=None)
    ScoreDeltaFactory(player__external_id="p1", player__display_name="", delta=5, created_at=AT)
    client = APIClient()

    assert entries(client) == [(1, "p1", "p1", 5)]  # answered at once

    cache_builds_wait()
    assert get_store().state(board) == "ready"
    assert entries(client) == [(1, "p1", "p1", 5)]


def test_a_name_saved_while_redis_was_unreachable_is_put_right_by_the_cache_sync(board, store):
    client = APIClient()
    store.names_set({"p2": "Stale"})  # as if Redis had missed the save of "" below
    assert entries(client)[1][2] == "Stale"

    cache_sync(checks=10)

    assert entries(client)[1][2] == "p2"
    assert entries(client)[0][2] == "Ada"
