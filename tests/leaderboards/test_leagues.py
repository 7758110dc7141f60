"""Leagues: players placed in buckets in the order they first score, for good, and each
bucket ranked on its own, from Redis, PostgreSQL and the final standings."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection
from rest_framework.test import APIClient

from ingestion.batches import DecodedBatch, store_batch
from ingestion.events import ScoreEvent
from leaderboards.cache import read_through
from leaderboards.cache.builds import cache_build_board
from leaderboards.cache.store import get_store
from leaderboards.models import Board, BucketMember, TieBreak
from leaderboards.moderation import board_score_remove
from leaderboards.services import board_finalize
from players.audit import Actor
from tests.leaderboards.pages.test_views import rows
from tests.leaderboards.test_tie_breaks import ENDS, MOMENTS, STARTS, Event, clear, feed

pytestmark = pytest.mark.django_db(transaction=True)
t = MOMENTS


def places(board: Board) -> list[tuple[str, int]]:
    return list(
        BucketMember.objects.filter(board=board)
        .order_by("position")
        .values_list("player__external_id", "position")
    )


def bucket_of(client, slug: str, player: str):
    response = client.get(f"/api/v1/leaderboards/{slug}/players/{player}/bucket/")
    assert response.status_code == 200, response.json()
    body = response.json()
    return (
        body["bucket"],
        body["count"],
        [(e["rank"], e["player_id"], e["score"]) for e in body["results"]],
    )


def test_players_fill_buckets_in_the_order_they_first_score_and_each_ranks_alone(
    redis_client, topic
):
    clear()
    board = Board.objects.create(
        slug="league", name="l", starts_at=STARTS, ends_at=ENDS, bucket_size=2
    )
    assert cache_build_board(board) == "ready"
    positions: dict[int, int] = {}
    feed(
        [Event("cy", 5, t[2], 0, uuid.uuid4()), Event("ann", 1, t[1], 0, uuid.uuid4())],
        1,
        positions,
    )
    feed(
        [
            Event("bob", 9, t[3], 0, uuid.uuid4()),
            Event("ann", 9, t[4], 0, uuid.uuid4()),  # ann again: her place stays
            Event("dee", 9, t[0], 0, uuid.uuid4()),  # played earliest, but arrived later
        ],
        1,
        positions,
    )
    client = APIClient()

    assert places(board) == [("ann", 1), ("cy", 2), ("dee", 3), ("bob", 4)]
    assert bucket_of(client, "league", "cy") == (1, 2, [(1, "ann", 10), (2, "cy", 5)])
    # A tie within the bucket: competition ranks, ties by player id.
    assert bucket_of(client, "league", "bob") == (2, 2, [(1, "bob", 9), (1, "dee", 9)])
    assert get_store().state(board) == "ready"  # scores came from Redis
    page = client.get("/api/v1/leaderboards/league/buckets/2/entries/?limit=1&offset=1").json()
    assert page["count"] == 2
    assert [(e["rank"], e["player_id"]) for e in page["results"]] == [(1, "dee")]

    # Rebuilt from PostgreSQL: the same buckets, the same answers.
    assert cache_build_board(board, force=True) == "ready"
    assert bucket_of(client, "league", "bob") == (2, 2, [(1, "bob", 9), (1, "dee", 9)])
    get_store().drop(board.pk)
    redis_client.flushdb()  # Redis lost everything: PostgreSQL answers
    assert bucket_of(client, "league", "cy") == (1, 2, [(1, "ann", 10), (2, "cy", 5)])


def test_an_earliest_league_ranks_its_buckets_by_places(redis_client, topic):
    clear()
    board = Board.objects.create(
        slug="league", name="l", starts_at=STARTS, ends_at=ENDS, bucket_size=3,
        tie_break=TieBreak.EARLIEST,
    )  # fmt: skip
    feed([Event("b", 4, t[2], 0, uuid.uuid4()), Event("a", 4, t[1], 0, uuid.uuid4())], 1)
    assert cache_build_board(board) == "ready"
    assert bucket_of(APIClient(), "league", "b") == (1, 2, [(1, "a", 4), (2, "b", 4)])


def test_a_board_made_a_league_after_play_began_places_who_scored_in_the_order_stored(
    redis_client, topic
):
    clear()
    positions: dict[int, int] = {}
    feed([Event("zed", 1, t[3], 0, uuid.uuid4())], 1, positions)
    feed([Event("amy", 1, t[0], 0, uuid.uuid4())], 1, positions)
    board = Board.objects.create(slug="late", name="l", starts_at=STARTS, ends_at=ENDS)
    assert places(board) == []

    board.bucket_size = 1
    board.save()
    feed([Event("kim", 1, t[1], 0, uuid.uuid4())], 1, positions)

    assert places(board) == [("zed", 1), ("amy", 2), ("kim", 3)]


def test_final_buckets_are_served_from_the_frozen_standings(redis_client, topic):
    clear()
    board = Board.objects.create(
        slug="league", name="l", starts_at=STARTS, ends_at=ENDS, bucket_size=2
    )
    positions: dict[int, int] = {}
    feed([Event("a", 3, t[1], 0, uuid.uuid4()), Event("b", 2, t[2], 0, uuid.uuid4())], 1, positions)
    assert board_finalize(board.pk)
    # Late: stored, but in no result, and no new place.
    feed([Event("b", 5, t[3], 0, uuid.uuid4()), Event("c", 9, t[3], 0, uuid.uuid4())], 1, positions)

    assert places(board) == [("a", 1), ("b", 2)]
    assert bucket_of(APIClient(), "league", "b") == (1, 2, [(1, "a", 3), (2, "b", 2)])


def test_bucket_reads_say_what_is_wrong():
    Board.objects.create(slug="plain", name="p", starts_at=STARTS)
    Board.objects.create(slug="league", name="l", starts_at=STARTS, bucket_size=5)
    client = APIClient()

    not_league = client.get("/api/v1/leaderboards/plain/players/p1/bucket/")
    no_place = client.get("/api/v1/leaderboards/league/players/p1/bucket/")
    bucket_zero = client.get("/api/v1/leaderboards/league/buckets/0/entries/")
    empty = client.get("/api/v1/leaderboards/league/buckets/7/entries/")

    assert not_league.status_code == 404
    assert not_league.json() == {"detail": "Board 'plain' is not a league (it has no bucket_size)."}
    assert no_place.status_code == 404
    assert no_place.json() == {"detail": "Player 'p1' has no place on board 'league'."}
    assert bucket_zero.status_code == 400
    assert "bucket" in bucket_zero.json()
    assert empty.status_code == 200
    assert empty.json()["count"] == 0


def test_the_board_page_shows_a_league_by_bucket(redis_client, topic, client):
    clear()
    board = Board.objects.create(
        slug="league", name="l", starts_at=STARTS, ends_at=ENDS, bucket_size=2
    )
    feed(
        [Event(p, v, t[i], 0, uuid.uuid4()) for i, (p, v) in enumerate(
            [("ann", 1), ("bob", 2), ("cy", 3), ("dee", 4), ("eve", 5)])],
        1,
    )  # fmt: skip
    url = f"/boards/{board.slug}/"

    whole = client.get(url).content.decode()
    second = client.get(url, {"bucket": 2}).content.decode()
    found = client.get(url, {"player": "dee"}).content.decode()

    assert "each bucket of 2 is ranked on its own" in whole
    assert "Bucket 1 →" in whole
    assert "Bucket 2 of this league" in second
    assert [(rank, player) for rank, player, _ in rows(second)] == [(1, "dee"), (2, "cy")]
    assert [player for _, player, _ in rows(whole)] == ["eve", "dee", "cy", "bob", "ann"]
    assert "← Bucket 1" in second
    assert "Bucket 3 →" in second
    assert client.get(url, {"bucket": 3}).content.decode().count("Bucket 4 →") == 0
    assert 'href="/boards/league/?bucket=2">bucket 2</a>' in found


def test_a_bucket_number_out_of_range_is_a_400():
    Board.objects.create(slug="league", name="l", starts_at=STARTS, bucket_size=5)
    response = APIClient().get(f"/api/v1/leaderboards/league/buckets/{10**30}/entries/")
    assert response.status_code == 400
    assert "bucket" in response.json()


def test_two_consumers_storing_at_once_give_dense_unique_places(redis_client, topic):
    """Two consumers (threads, each with its own connection) store batches of different
    players at the same time: every player gets one place, and places run 1..n."""
    clear()
    board = Board.objects.create(
        slug="league", name="l", starts_at=STARTS, ends_at=ENDS, bucket_size=10
    )
    errors: list[BaseException] = []

    def consumer(name: str) -> None:
        try:
            for batch in range(15):
                decoded = DecodedBatch()
                for i in range(4):
                    decoded.events.append(
                        (0, ScoreEvent(f"{name}-{batch}-{i}", "score", 1, t[1], None, uuid.uuid4()))
                    )
                decoded.next_offsets[0] = batch + 1
                store_batch(topic=f"{topic}-{name}", batch=decoded)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=consumer, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    placed = places(board)
    assert len(placed) == 120
    assert len({player for player, _ in placed}) == 120
    assert [position for _, position in placed] == list(range(1, 121))


def test_a_removed_score_keeps_its_league_place_and_scores_again_there_from_zero(
    redis_client, topic
):
    clear()
    board = Board.objects.create(
        slug="league", name="l", starts_at=STARTS, ends_at=ENDS, bucket_size=2
    )
    assert cache_build_board(board) == "ready"
    positions: dict[int, int] = {}
    feed(
        [
            Event("ann", 5, t[0], 0, uuid.uuid4()),
            Event("bob", 3, t[1], 0, uuid.uuid4()),
            Event("cy", 4, t[2], 0, uuid.uuid4()),
        ],
        1,
        positions,
    )
    client = APIClient()

    board_score_remove(board_slug="league", player_id="ann", actor=Actor.api_key("t"), now=t[2])

    assert places(board) == [("ann", 1), ("bob", 2), ("cy", 3)]
    assert bucket_of(client, "league", "bob") == (1, 1, [(1, "bob", 3)])
    read_through.cache_builds_wait()  # the read above built the board again
    assert board.pk in get_store().cached_board_ids()
    feed([Event("ann", 1, t[4], 0, uuid.uuid4())], 1, positions)
    assert bucket_of(client, "league", "bob") == (1, 2, [(1, "bob", 3), (2, "ann", 1)])
