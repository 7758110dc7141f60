"""The privacy API (issue 21, items 3, 4 and 9): `DELETE /players/{id}/` erases a player,
`GET /players/{id}/export/` streams everything held on them; both behind
`players:moderate`, audited, with the usual answers to bad input."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from rest_framework.test import APIClient

from access.models import Scope
from ingestion.batches import DecodedBatch, store_batch
from ingestion.events import ScoreEvent
from leaderboards.models import Board, BucketMember, Participant, ScoreDelta
from leaderboards.player_export import EXPORT_CHUNK
from leaderboards.services import board_finalize
from players.audit import player_hash
from players.models import AuditEntry, Player, Tombstone
from tests.factories import api_client_with

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 11, 2, tzinfo=UTC)


def client_with(*scopes: str, name: str = "privacy-desk") -> APIClient:
    return api_client_with(*scopes, name=name)


@pytest.fixture
def moderator() -> APIClient:
    return client_with(Scope.PLAYERS_MODERATE)


def store(topic: str, *events: tuple[str, int, datetime]) -> None:
    """Events stored as the consumer stores them."""
    batch = DecodedBatch(next_offsets={0: len(events)})
    for player, delta, at in events:
        event = ScoreEvent(player, "score", delta, at, None, uuid.uuid4())
        batch.events.append((0, event))
    store_batch(topic=topic, batch=batch)


# -- erase -------------------------------------------------------------------------------


def test_an_erasure_answers_204_and_the_player_is_gone(moderator, topic):
    Player.objects.create(external_id="p1/x", display_name="Ada")  # ids may hold a slash
    store(topic, ("p1/x", 5, START), ("p2", 3, START))

    response = moderator.delete("/api/v1/players/p1/x/", {"reason": "GDPR #12"}, format="json")

    assert response.status_code == 204
    assert moderator.get("/api/v1/players/p1/x/").status_code == 404
    assert not ScoreDelta.objects.filter(player__external_id="p1/x").exists()
    assert ScoreDelta.objects.filter(player__external_id="p2").exists()
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.reason, entry.player_id, entry.player_hash) == (
        "erase",
        "privacy-desk",
        "GDPR #12",
        "",
        player_hash("p1/x"),
    )


def test_erasing_needs_no_reason_and_an_erased_player_again_is_204(moderator):
    Player.objects.create(external_id="p1")

    assert moderator.delete("/api/v1/players/p1/").status_code == 204
    assert moderator.delete("/api/v1/players/p1/").status_code == 204  # a retry: done
    assert Tombstone.objects.count() == 1
    assert AuditEntry.objects.count() == 1


def test_erasing_an_unknown_player_is_a_404(moderator):
    response = moderator.delete("/api/v1/players/nobody/")

    assert response.status_code == 404
    assert response.json() == {"detail": "No player 'nobody'."}
    assert not Tombstone.objects.exists()


def test_an_over_long_reason_is_a_400_and_erases_nothing(moderator):
    Player.objects.create(external_id="p1")

    response = moderator.delete("/api/v1/players/p1/", {"reason": "x" * 501}, format="json")

    assert response.status_code == 400
    assert "reason" in response.json()
    assert Player.objects.filter(external_id="p1").exists()
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("scopes", [(), (Scope.BOARDS_WRITE, Scope.EVENTS_WRITE)])
def test_erasing_needs_the_moderate_scope(scopes):
    Player.objects.create(external_id="p1")

    response = client_with(*scopes).delete("/api/v1/players/p1/")

    assert response.status_code == 403
    assert "players:moderate" in response.json()["detail"]
    assert Player.objects.filter(external_id="p1").exists()


def test_erasing_needs_a_key():
    Player.objects.create(external_id="p1")

    assert APIClient().delete("/api/v1/players/p1/").status_code in (401, 403)
    assert Player.objects.filter(external_id="p1").exists()


def test_the_profiles_other_writes_keep_their_own_scope(moderator):
    body = {"display_name": "Ada"}

    assert moderator.put("/api/v1/players/p1/", body, format="json").status_code == 403
    writer = client_with(Scope.BOARDS_WRITE)
    assert writer.put("/api/v1/players/p1/", body, format="json").status_code == 201
    assert writer.patch("/api/v1/players/p1/", body, format="json").status_code == 200


# -- export ------------------------------------------------------------------------------


def test_the_export_holds_everything_about_the_player(moderator, topic, redis_client):
    live = Board.objects.create(slug="live", name="Live", starts_at=START)
    league = Board.objects.create(slug="league", name="League", starts_at=START, bucket_size=2)
    done = Board.objects.create(
        slug="done", name="Done", starts_at=START, ends_at=START + timedelta(days=1)
    )
    player = Player.objects.create(external_id="p1", display_name="Ada", metadata={"country": "NZ"})
    times = [START + timedelta(hours=h) for h in (1, 2, 30)]
    store(topic, ("p0", 100, times[0]), ("p1", 5, times[0]), ("p1", 7, times[1]))
    store(topic, ("p1", -2, times[2]))
    assert board_finalize(done.pk)
    Participant.objects.create(board=live, player=player)
    assert moderator.post("/api/v1/players/p1/ban/", {"reason": "aimbot"}).status_code == 200

    response = moderator.get("/api/v1/players/p1/export/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    export = json.loads(b"".join(response.streaming_content))
    assert export["player"] == {
        "player_id": "p1",
        "display_name": "Ada",
        "metadata": {"country": "NZ"},
        "created_at": export["player"]["created_at"],
    }
    assert export["ban"]["banned"] is True
    assert export["ban"]["reason"] == "aimbot"
    assert export["boards"] == []  # banned: in no ranking, as its profile says
    [final] = export["final_standings"]
    assert (final["board"], final["score"], final["rank"], final["position"]) == (
        "done",
        12,
        None,  # hidden while banned
        None,
    )
    assert [p["board"] for p in export["participations"]] == ["live"]
    place = BucketMember.objects.get(board=league, player=player).position
    assert export["league_places"] == [{"board": "league", "bucket": 1, "position": place}]
    assert [m["action"] for m in export["moderation"]] == ["ban", "export"]
    assert [(e["metric"], e["delta"]) for e in export["events"]] == [
        ("score", 5),
        ("score", 7),
        ("score", -2),
    ]
    keys = ScoreDelta.objects.filter(player=player).values_list("dedupe_key", flat=True)
    assert {e["dedupe_key"] for e in export["events"]} == {str(key) for key in keys}
    assert export["events"][0]["created_at"] == "2026-11-02T01:00:00Z"
    assert list(export) == [
        "player",
        "ban",
        "boards",
        "final_standings",
        "participations",
        "league_places",
        "moderation",
        "events",
    ]


def test_the_export_shows_the_players_live_ranks(moderator, topic, redis_client):
    Board.objects.create(slug="live", name="Live", starts_at=START)
    store(topic, ("p0", 100, START), ("p1", 5, START))

    export = json.loads(b"".join(moderator.get("/api/v1/players/p1/export/").streaming_content))

    assert export["boards"] == [{"board": "live", "rank": 2, "score": 5}]
    assert export["player"]["display_name"] is None


def test_an_export_of_many_events_is_streamed_a_chunk_at_a_time(moderator):
    player = Player.objects.create(external_id="p1")
    count = 6 * EXPORT_CHUNK + 123
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO leaderboards_scoredelta (dedupe_key, player_id, metric, delta, created_at)"
            " SELECT gen_random_uuid(), %s, 'score', n, %s::timestamptz + n * interval '1 second'"
            " FROM generate_series(1, %s) n",
            [player.pk, START, count],
        )

    response = moderator.get("/api/v1/players/p1/export/")

    assert isinstance(response, StreamingHttpResponse)
    pieces = list(response.streaming_content)
    whole = b"".join(pieces)
    # The head, one piece per chunk of events, the tail: no piece holds them all.
    assert len(pieces) == 2 + -(-count // EXPORT_CHUNK)
    assert max(len(piece) for piece in pieces) < len(whole) / 5
    events = json.loads(whole)["events"]
    assert len(events) == count
    assert [e["delta"] for e in events] == list(range(1, count + 1))


def test_an_export_is_audited_with_the_keys_name(moderator):
    Player.objects.create(external_id="p1")

    moderator.get("/api/v1/players/p1/export/")

    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.actor_kind, entry.player_id) == (
        "export",
        "privacy-desk",
        "api_key",
        "p1",
    )


def test_exporting_an_unknown_player_is_a_404(moderator):
    response = moderator.get("/api/v1/players/nobody/export/")

    assert response.status_code == 404
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("scopes", [(), (Scope.BOARDS_WRITE, Scope.REJECTED_READ)])
def test_exporting_needs_the_moderate_scope(scopes):
    Player.objects.create(external_id="p1")

    response = client_with(*scopes).get("/api/v1/players/p1/export/")

    assert response.status_code == 403
    assert "players:moderate" in response.json()["detail"]


def test_exporting_needs_a_key():
    Player.objects.create(external_id="p1")

    assert APIClient().get("/api/v1/players/p1/export/").status_code in (401, 403)
    assert not AuditEntry.objects.exists()
