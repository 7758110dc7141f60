"""The moderation API (issue 21): the audit log and who may read it, bans, and removing a
player's score from one board."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from access.models import Scope
from leaderboards.models import FinalStanding, ScoreCut, ScoreDelta
from leaderboards.services import board_finalize
from players.audit import Actor, audit_record, player_hash
from players.models import AuditAction, AuditEntry, Player
from tests.factories import BoardFactory, PlayerFactory, ScoreDeltaFactory, api_client_with

pytestmark = pytest.mark.django_db


def client_with(*scopes: str, name: str = "moderator") -> APIClient:
    return api_client_with(*scopes, name=name)


@pytest.fixture
def moderator() -> APIClient:
    return client_with(Scope.PLAYERS_MODERATE)


def test_the_audit_log_lists_actions_newest_first_and_pages(moderator):
    for n in range(3):
        audit_record(
            action=AuditAction.BAN, actor=Actor.api_key("k"), reason=f"r{n}", player_id=f"p{n}"
        )

    first = moderator.get("/api/v1/audit-log/?limit=2").json()
    second = moderator.get("/api/v1/audit-log/?limit=2&offset=2").json()

    assert first["count"] == 3
    assert [e["player_id"] for e in first["results"] + second["results"]] == ["p2", "p1", "p0"]
    assert first["results"][0] | {"id": 0, "created_at": ""} == {
        "id": 0,
        "action": "ban",
        "reason": "r2",
        "actor": "k",
        "actor_kind": "api_key",
        "player_id": "p2",
        "player_hash": "",
        "board": "",
        "created_at": "",
    }


def test_an_erasure_is_recorded_by_a_keyed_hash_only():
    entry = audit_record(action=AuditAction.ERASE, actor=Actor.admin("root"), player_id="p7")

    assert entry.player_id == ""
    assert entry.player_hash == player_hash("p7") != player_hash("p8")
    assert "p7" not in entry.player_hash


@pytest.mark.parametrize("scopes", [(), (Scope.BOARDS_WRITE, Scope.REJECTED_READ)])
def test_the_audit_log_needs_the_moderate_scope(scopes):
    response = client_with(*scopes).get("/api/v1/audit-log/")

    assert response.status_code == 403
    assert "players:moderate" in response.json()["detail"]


def test_the_audit_log_needs_a_key():
    assert APIClient().get("/api/v1/audit-log/").status_code in (401, 403)


def test_the_admin_shows_the_audit_log_read_only(admin_client):
    entry = audit_record(action=AuditAction.UNBAN, actor=Actor.admin("root"), player_id="p1")

    listing = admin_client.get("/admin/players/auditentry/")
    page = admin_client.get(f"/admin/players/auditentry/{entry.pk}/change/")

    assert listing.status_code == page.status_code == 200
    assert b"p1" in listing.content
    assert admin_client.get("/admin/players/auditentry/add/").status_code == 403
    assert admin_client.post(f"/admin/players/auditentry/{entry.pk}/delete/").status_code == 403
    assert AuditEntry.objects.count() == 1


# -- ban and unban -----------------------------------------------------------------------


@pytest.fixture
def player():
    from players.models import Player

    return Player.objects.create(external_id="p1/x")  # ids may hold a slash


def test_a_ban_answers_its_state_and_is_audited_with_the_keys_name(moderator, player):
    response = moderator.post("/api/v1/players/p1/x/ban/", {"reason": "aimbot"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["player_id"] == "p1/x"
    assert body["banned"] is True
    assert body["reason"] == "aimbot"
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.player_id, entry.reason) == (
        "ban",
        "moderator",
        "p1/x",
        "aimbot",
    )


def test_ban_and_unban_are_idempotent(moderator, player):
    for _ in range(2):
        assert (
            moderator.post("/api/v1/players/p1/x/ban/", {"reason": "r"}, format="json").status_code
            == 200
        )
    for _ in range(2):
        assert moderator.delete("/api/v1/players/p1/x/ban/").status_code == 204
    player.refresh_from_db()
    assert player.banned_at is None
    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["unban", "ban"]


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 501}])
def test_a_ban_needs_a_reason_of_1_to_500_characters(moderator, player, body):
    response = moderator.post("/api/v1/players/p1/x/ban/", body, format="json")

    assert response.status_code == 400
    assert "reason" in response.json()
    assert not AuditEntry.objects.exists()


def test_a_reason_of_500_characters_is_enough(moderator, player):
    response = moderator.post("/api/v1/players/p1/x/ban/", {"reason": "x" * 500}, format="json")

    assert response.status_code == 200


@pytest.mark.parametrize("method", ["post", "delete"])
def test_banning_an_unknown_player_is_a_404(moderator, method):
    response = getattr(moderator, method)(
        "/api/v1/players/nobody/ban/", {"reason": "r"}, format="json"
    )

    assert response.status_code == 404


@pytest.mark.parametrize("method", ["post", "delete"])
def test_a_ban_needs_a_key_with_the_scope(player, method):
    wrong = client_with(Scope.BOARDS_WRITE, Scope.EVENTS_WRITE)
    for client, codes in ((APIClient(), (401, 403)), (wrong, (403,))):
        response = getattr(client, method)(
            "/api/v1/players/p1/x/ban/", {"reason": "r"}, format="json"
        )
        assert response.status_code in codes
    player.refresh_from_db()
    assert player.banned_at is None


# -- remove a score ----------------------------------------------------------------------

STARTS = datetime(2026, 11, 2, tzinfo=UTC)


@pytest.fixture
def scored():
    """Boards "cup" and "other" over the same window, where p1/x and p2 have scores."""
    cup = BoardFactory(slug="cup", starts_at=STARTS)
    BoardFactory(slug="other", starts_at=STARTS)
    for external_id, delta in (("p1/x", 5), ("p2", 3)):
        ScoreDeltaFactory(
            player__external_id=external_id, delta=delta, created_at=STARTS + timedelta(hours=1)
        )
    return cup


def standing(client: APIClient, board: str, player: str) -> int:
    return client.get(f"/api/v1/leaderboards/{board}/players/{player}/").status_code


def test_removing_a_score_answers_204_and_is_audited_with_the_board(moderator, scored):
    response = moderator.delete(
        "/api/v1/leaderboards/cup/players/p1/x/", {"reason": "bug bounty"}, format="json"
    )

    assert response.status_code == 204
    public = APIClient()
    assert standing(public, "cup", "p1/x") == 404
    assert standing(public, "other", "p1/x") == 200  # other boards keep it
    assert standing(public, "cup", "p2") == 200
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.player_id, entry.board, entry.reason) == (
        "remove_score",
        "moderator",
        "p1/x",
        "cup",
        "bug bounty",
    )
    assert ScoreDelta.objects.count() == 2  # nothing deleted


def test_a_removal_needs_no_reason(moderator, scored):
    assert moderator.delete("/api/v1/leaderboards/cup/players/p2/").status_code == 204
    assert AuditEntry.objects.get().reason == ""


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/leaderboards/nowhere/players/p1/x/",  # no such board
        "/api/v1/leaderboards/cup/players/nobody/",  # no such player
        "/api/v1/leaderboards/cup/players/p3/",  # no score there
    ],
)
def test_removing_what_is_not_there_is_a_404(moderator, scored, path):
    PlayerFactory(external_id="p3")

    assert moderator.delete(path).status_code == 404
    assert not AuditEntry.objects.exists()


def test_a_second_removal_without_a_score_since_is_a_404_and_with_one_moves_the_cut(
    moderator, scored
):
    assert moderator.delete("/api/v1/leaderboards/cup/players/p2/").status_code == 204
    assert moderator.delete("/api/v1/leaderboards/cup/players/p2/").status_code == 404
    first = ScoreCut.objects.get().cut_at
    ScoreDeltaFactory(player=Player.objects.get(external_id="p2"), delta=1, created_at=first)
    assert moderator.delete("/api/v1/leaderboards/cup/players/p2/").status_code == 404
    later = first + timedelta(milliseconds=1)
    ScoreDeltaFactory(player=Player.objects.get(external_id="p2"), delta=1, created_at=later)
    assert standing(APIClient(), "cup", "p2") == 200  # stamped after the cut: it counts

    assert moderator.delete("/api/v1/leaderboards/cup/players/p2/").status_code == 204
    assert ScoreCut.objects.get().cut_at > first
    assert AuditEntry.objects.count() == 2


def test_a_removal_reason_has_at_most_500_characters(moderator, scored):
    response = moderator.delete(
        "/api/v1/leaderboards/cup/players/p2/", {"reason": "x" * 501}, format="json"
    )

    assert response.status_code == 400
    assert "reason" in response.json()
    assert not ScoreCut.objects.exists()
    assert (
        moderator.delete(
            "/api/v1/leaderboards/cup/players/p2/", {"reason": "x" * 500}, format="json"
        ).status_code
        == 204
    )


def test_a_removal_needs_a_key_with_the_scope_while_reads_need_none(scored):
    wrong = client_with(Scope.BOARDS_WRITE, Scope.EVENTS_WRITE)
    assert APIClient().delete("/api/v1/leaderboards/cup/players/p2/").status_code in (401, 403)
    response = wrong.delete("/api/v1/leaderboards/cup/players/p2/")
    assert response.status_code == 403
    assert "players:moderate" in response.json()["detail"]
    assert not ScoreCut.objects.exists()
    assert standing(APIClient(), "cup", "p2") == 200


def test_removing_a_score_from_a_finalised_board_drops_its_row_and_closes_up(moderator, scored):
    assert board_finalize(scored.pk)

    assert moderator.delete("/api/v1/leaderboards/cup/players/p1/x/").status_code == 204

    entries = APIClient().get("/api/v1/leaderboards/cup/entries/").json()
    assert [(e["rank"], e["player_id"]) for e in entries["results"]] == [(1, "p2")]
    assert not FinalStanding.objects.filter(player__external_id="p1/x").exists()
    assert moderator.delete("/api/v1/leaderboards/cup/players/p1/x/").status_code == 404
