"""Player profiles over the API: read with the player's ranks, created or replaced (PUT),
changed in part (PATCH), every bad field a 400 naming it; a name set here shows on the
boards at once, from Redis, with no query per read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from access.models import ApiKey, Scope
from leaderboards.cache.builds import cache_build_board
from players.models import Player
from tests.factories import BoardFactory, ScoreDeltaFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def writer():
    _, key = ApiKey.objects.create_key(name="profiles", scopes=[Scope.BOARDS_WRITE])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.fixture
def boards(store):
    now = timezone.now()
    live = BoardFactory(slug="live", starts_at=now - timedelta(days=1), ends_at=None)
    BoardFactory(slug="other", starts_at=now - timedelta(days=1), ends_at=None)
    ended = BoardFactory(
        slug="ended", starts_at=now - timedelta(days=9), ends_at=now - timedelta(days=8)
    )
    for player_id, delta in {"p1": 30, "p2": 50}.items():
        ScoreDeltaFactory(
            player__external_id=player_id, delta=delta, created_at=now - timedelta(hours=1)
        )
    ScoreDeltaFactory(
        player=Player.objects.get(external_id="p1"),
        delta=5,
        created_at=ended.starts_at + timedelta(hours=1),
    )
    for player in Player.objects.all():  # unnamed: boards show their ids
        player.display_name = ""
        player.save()
    assert cache_build_board(live) == "ready"
    return live


def test_a_profile_lists_the_players_rank_on_every_live_board(client, boards):
    Player.objects.filter(external_id="p1").update(metadata={"country": "NZ"})

    body = client.get("/api/v1/players/p1/").json()

    assert body["player_id"] == "p1"
    assert body["display_name"] is None
    assert body["metadata"] == {"country": "NZ"}
    assert datetime.fromisoformat(body["created_at"]) <= datetime.now(UTC)
    # Live boards only (not the ended one), each with the player's rank and score.
    assert sorted((b["board"], b["rank"], b["score"]) for b in body["boards"]) == [
        ("live", 2, 30),
        ("other", 2, 30),
    ]


def test_an_unknown_player_is_a_404(client, redis_client):
    response = client.get("/api/v1/players/nobody/")

    assert response.status_code == 404
    assert response.json() == {"detail": "No player 'nobody'."}


def test_put_creates_then_replaces_and_the_name_shows_on_the_board(writer, boards):
    created = writer.put(
        "/api/v1/players/p9/",
        {"display_name": "  Grace  ", "metadata": {"level": 3}},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert (created.json()["display_name"], created.json()["metadata"]) == ("Grace", {"level": 3})

    replaced = writer.put("/api/v1/players/p2/", {"display_name": "Ada"}, format="json")
    assert replaced.status_code == 200
    assert replaced.json()["metadata"] == {}  # PUT replaces the whole profile
    entries = APIClient().get("/api/v1/leaderboards/live/entries/").json()["results"]
    assert [(e["player_id"], e["display_name"]) for e in entries] == [("p2", "Ada"), ("p1", "p1")]


def test_a_name_set_over_the_api_is_read_from_redis_without_a_query(
    writer, boards, django_assert_num_queries
):
    writer.put("/api/v1/players/p1/", {"display_name": "Linus"}, format="json")
    reader = APIClient()
    reader.get("/api/v1/leaderboards/live/entries/")  # the catalog is filled

    with django_assert_num_queries(0):
        entries = reader.get("/api/v1/leaderboards/live/entries/").json()["results"]

    assert ("p1", "Linus") in [(e["player_id"], e["display_name"]) for e in entries]


def test_patch_changes_only_what_it_names(writer, boards):
    writer.put("/api/v1/players/p1/", {"display_name": "Ada", "metadata": {"a": 1}}, format="json")

    renamed = writer.patch("/api/v1/players/p1/", {"display_name": "Ada L."}, format="json")
    retagged = writer.patch("/api/v1/players/p1/", {"metadata": {"b": 2}}, format="json")

    assert renamed.json()["metadata"] == {"a": 1}
    assert (retagged.json()["display_name"], retagged.json()["metadata"]) == ("Ada L.", {"b": 2})
    missing = writer.patch("/api/v1/players/nobody/", {"display_name": "X"}, format="json")
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "display_name", "This field is required."),
        ({"display_name": "   "}, "display_name", "This field may not be blank."),
        ({"display_name": "x" * 101}, "display_name", "This field is 101 characters, at most 100."),
        ({"display_name": "new\nline"}, "display_name", "control characters"),
        ({"display_name": "Ada\u200b"}, "display_name", "invisible format characters"),
        ({"display_name": "\u202eadA"}, "display_name", "invisible format characters"),
        ({"display_name": "A\u2066da"}, "display_name", "invisible format characters"),
        ({"display_name": ["Ada"]}, "display_name", "Not a valid string."),
        ({"display_name": "Ada", "metadata": [1, 2]}, "metadata", "must be a JSON object"),
        ({"display_name": "Ada", "metadata": {"x": "y" * 5000}}, "metadata", "at most 4096"),
    ],
)
def test_bad_fields_are_a_400_naming_the_field(writer, redis_client, body, field, message):
    response = writer.put("/api/v1/players/p1/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert message in response.json()[field][0]
    assert not Player.objects.exists()


def test_patch_refuses_a_name_with_an_invisible_character_and_keeps_the_old_one(writer, boards):
    writer.put("/api/v1/players/p1/", {"display_name": "Ada"}, format="json")

    response = writer.patch("/api/v1/players/p1/", {"display_name": "Ada\u200d"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["display_name"]
    assert Player.objects.get(external_id="p1").display_name == "Ada"


def test_writing_a_profile_needs_the_boards_write_scope(redis_client):
    _, key = ApiKey.objects.create_key(name="events", scopes=[Scope.EVENTS_WRITE])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

    response = client.put("/api/v1/players/p1/", {"display_name": "Ada"}, format="json")

    assert response.status_code == 403
    assert response.json() == {"detail": "This API key lacks the scope 'boards:write'."}
    assert APIClient().put("/api/v1/players/p1/", {"display_name": "A"}).status_code == 403
