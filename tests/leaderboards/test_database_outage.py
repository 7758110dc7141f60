"""PostgreSQL down: reads of cached boards go on answering from Redis; what needs the
database answers 503 with Retry-After (never a 500), and /readyz says so."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client

from leaderboards.cache.sync import cache_build_board
from leaderboards.services import series_create, series_current_board
from players.models import Player
from tests.factories import BoardFactory, ScoreDeltaFactory

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 1, 1, tzinfo=UTC)


def add_scores(board_metric: str, scores: dict[str, int], at: datetime) -> None:
    for player_id, delta in scores.items():
        ScoreDeltaFactory(
            player__external_id=player_id, metric=board_metric, delta=delta, created_at=at
        )


def cached_reads(client: Client) -> dict[str, object]:
    """Every read of a cached board, by name: the response."""
    return {
        "entries": client.get("/api/v1/leaderboards/cached/entries/?limit=10"),
        "rank": client.get("/api/v1/leaderboards/cached/players/p2/"),
        "around": client.get("/api/v1/leaderboards/cached/players/p2/?around=1"),
        "ranks": client.post(
            "/api/v1/leaderboards/cached/ranks/",
            {"player_ids": ["p3", "p1", "nobody"]},
            content_type="application/json",
        ),
        "board": client.get("/api/v1/leaderboards/cached/"),
        "page": client.get("/boards/cached/?player=p2"),
        "series": client.get("/api/v1/series/daily/current/entries/"),
    }


def needs_database(client: Client) -> dict[str, object]:
    return {
        "uncached entries": client.get("/api/v1/leaderboards/uncached/entries/"),
        "uncached page": client.get("/boards/uncached/"),
        "standings": client.get(f"/api/v1/standings/?from={START.isoformat()}".replace("+", "%2B")),
        "write": client.post(
            "/api/v1/leaderboards/",
            {"slug": "new", "name": "New", "starts_at": START.isoformat()},
            content_type="application/json",
            HTTP_AUTHORIZATION="Api-Key whatever",
        ),
    }


def check_cached_reads(responses: dict) -> None:
    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 200)
    entries = responses["entries"].json()
    assert entries["count"] == 3
    assert [
        (e["rank"], e["player_id"], e["display_name"], e["score"]) for e in entries["results"]
    ] == [
        (1, "p1", "Ada", 30),
        (2, "p2", "p2", 20),
        (2, "p3", "p3", 20),
    ]
    assert responses["rank"].json() == {
        "rank": 2,
        "player_id": "p2",
        "display_name": "p2",
        "score": 20,
    }
    assert [e["player_id"] for e in responses["around"].json()["around"]] == ["p1", "p2", "p3"]
    ranks = responses["ranks"].json()
    assert [e["player_id"] for e in ranks["results"]] == ["p1", "p3"]
    assert ranks["missing"] == ["nobody"]
    assert responses["board"].json()["slug"] == "cached"
    assert "Ada" in responses["page"].content.decode()
    assert [e["player_id"] for e in responses["series"].json()["results"]] == ["p1", "p2", "p3"]


def test_reads_of_cached_boards_survive_the_database_going_down(store, embedded_services):
    now = datetime.now(UTC)
    cached = BoardFactory(slug="cached", metric="score", starts_at=START, ends_at=None)
    BoardFactory(slug="uncached", metric="other", starts_at=START, ends_at=None)
    add_scores("score", {"p1": 30, "p2": 20, "p3": 20}, at=now - timedelta(minutes=1))
    for player in Player.objects.all():  # saved one by one: the names reach Redis
        player.display_name = "Ada" if player.external_id == "p1" else ""
        player.save()
    series = series_create(slug="daily", name="Daily", period="daily")
    assert cache_build_board(cached) == "ready"  # loads the display names too
    assert cache_build_board(series_current_board(series)) == "ready"
    client = Client()
    check_cached_reads(cached_reads(client))  # and the definitions are in the catalog

    connection.close()
    embedded_services.stop("postgres")
    try:
        # Under traffic for longer than a process keeps its copy of a definition (1 s),
        # so later reads take them from Redis's catalog.
        deadline = time.monotonic() + 2.5
        rounds = 0
        while time.monotonic() < deadline:
            check_cached_reads(cached_reads(client))
            rounds += 1
        assert rounds >= 2

        for name, response in needs_database(client).items():
            assert response.status_code == 503, name
            assert response["Retry-After"] == "5", name
            if name != "uncached page":
                assert response.json() == {
                    "detail": "The database is unavailable; try again shortly."
                }, name
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"]["ok"] is False
        assert ready.json()["checks"]["redis"]["ok"] is True
    finally:
        embedded_services.start("postgres")

    assert client.get("/api/v1/leaderboards/uncached/entries/").status_code == 200
