"""Moderation in the admin (issue 21): staff ban, unban and remove a score from a board's
page (after finding the player on it) and from the player's page, erase a player from
theirs, and reopen a finalised board, each after a confirmation page asking for the
reason; the audit log names the staff user."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

from leaderboards.models import Board, ScoreCut
from leaderboards.selectors import board_ranks
from leaderboards.services import board_finalize
from players.models import AuditEntry, Player
from tests.factories import BoardFactory, PlayerFactory, ScoreDeltaFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def board(store) -> Board:
    """A live board where p1 (40) and p2 (50) have scores."""
    board = BoardFactory(slug="spring", starts_at=timezone.now() - timedelta(days=1))
    for external_id, delta in (("p1", 40), ("p2", 50)):
        ScoreDeltaFactory(
            player=PlayerFactory(external_id=external_id),
            delta=delta,
            created_at=board.starts_at + timedelta(minutes=1),
        )
    return board


def board_url(board: Board, name: str = "change") -> str:
    return reverse(f"admin:leaderboards_board_{name}", args=[board.pk])


def player_url(external_id: str, name: str = "change") -> str:
    player = Player.objects.get(external_id=external_id)
    return reverse(f"admin:players_player_{name}", args=[player.pk])


def shown(board: Board) -> list[str]:
    return [e.player_id for e in board_ranks(board, player_ids=["p1", "p2"])]


def audit() -> list[tuple]:
    return list(
        AuditEntry.objects.order_by("id").values_list(
            "action", "player_id", "board", "actor", "actor_kind", "reason"
        )
    )


# -- from the board's page ------------------------------------------------------------------


def test_staff_find_a_player_on_a_board_and_ban_them_with_a_reason(admin_client, board):
    found = admin_client.get(board_url(board), {"find_player": "p1"}).content.decode()
    ban = f"{board_url(board, 'ban')}?player=p1"
    assert ban in found
    assert f"{board_url(board, 'remove_score')}?player=p1" in found

    asked = admin_client.get(ban)
    assert asked.status_code == 200
    assert "Ban p1?" in asked.content.decode()
    assert 'name="reason"' in asked.content.decode()
    refused = admin_client.post(ban, {"reason": "  "})
    assert refused.status_code == 200
    assert "This field is required." in refused.content.decode()
    assert Player.objects.get(external_id="p1").banned_at is None

    done = admin_client.post(ban, {"reason": "speed hack"})

    assert done.status_code == 302
    assert done["Location"] == f"{board_url(board)}?find_player=p1"
    assert Player.objects.get(external_id="p1").banned_at is not None
    assert shown(board) == ["p2"]
    assert audit() == [("ban", "p1", "", "admin", "admin", "speed hack")]
    page = admin_client.get(done["Location"]).content.decode()
    assert "is banned: hidden from every ranking" in page
    assert f"{board_url(board, 'unban')}?player=p1" in page

    admin_client.post(f"{board_url(board, 'unban')}?player=p1", {"reason": ""})

    assert shown(board) == ["p2", "p1"]
    assert audit()[-1] == ("unban", "p1", "", "admin", "admin", "")


def test_staff_remove_a_players_score_from_the_board_page(admin_client, board):
    remove = f"{board_url(board, 'remove_score')}?player=p2"
    asked = admin_client.get(remove).content.decode()
    assert "Remove the score of p2 on spring?" in asked
    assert "Reason (optional)" in asked

    done = admin_client.post(remove, {"reason": "bug"})

    assert done.status_code == 302
    assert shown(board) == ["p1"]
    assert ScoreCut.objects.filter(board=board, player__external_id="p2").exists()
    assert audit() == [("remove_score", "p2", "spring", "admin", "admin", "bug")]
    again = admin_client.post(remove, {"reason": ""}, follow=True)
    assert "Player &#x27;p2&#x27; has no score on board &#x27;spring&#x27;." in (
        again.content.decode()
    )
    assert len(audit()) == 1


def test_staff_erase_a_player_found_on_the_board_page(admin_client, board):
    page = admin_client.get(board_url(board), {"find_player": "p2"}).content.decode()
    erase = f"{board_url(board, 'erase')}?player=p2"
    assert erase in page
    assert "Erase p2 for good?" in admin_client.get(erase).content.decode()

    done = admin_client.post(erase, {"reason": "GDPR"})

    assert done["Location"] == board_url(board)
    assert not Player.objects.filter(external_id="p2").exists()
    assert shown(board) == ["p1"]
    assert [row[0] for row in audit()] == ["erase"]


def test_a_reason_longer_than_500_characters_is_refused(admin_client, board):
    response = admin_client.post(f"{board_url(board, 'ban')}?player=p1", {"reason": "x" * 501})

    assert response.status_code == 200
    assert "at most 500 characters" in response.content.decode()
    assert not AuditEntry.objects.exists()


def test_staff_reopen_a_finalised_board_with_a_reason(admin_client, board):
    assert board_url(board, "reopen") not in admin_client.get(board_url(board)).content.decode()
    assert board_finalize(board.pk)
    page = admin_client.get(board_url(board)).content.decode()
    assert board_url(board, "reopen") in page

    refused = admin_client.post(board_url(board, "reopen"), {"reason": ""})
    assert refused.status_code == 200
    done = admin_client.post(board_url(board, "reopen"), {"reason": "late results"})

    assert done.status_code == 302
    board.refresh_from_db()
    assert board.finalized_at is None
    assert board.reopened_at is not None
    assert audit() == [("reopen", "", "spring", "admin", "admin", "late results")]
    assert board_url(board, "finalize") in admin_client.get(board_url(board)).content.decode()


# -- from the player's page -------------------------------------------------------------------


def test_the_player_page_bans_unbans_and_removes_a_score_on_a_board(admin_client, board):
    page = admin_client.get(player_url("p1")).content.decode()
    assert 'id="moderation-panel"' in page
    assert player_url("p1", "ban") in page
    remove = f"{player_url('p1', 'remove_score')}?board=spring"
    assert remove in page  # p1 has a score on spring

    admin_client.post(player_url("p1", "ban"), {"reason": "cheat"})
    page = admin_client.get(player_url("p1")).content.decode()
    assert "<strong>Banned</strong>" in page
    assert player_url("p1", "unban") in page
    admin_client.post(player_url("p1", "unban"), {"reason": "appeal"})
    done = admin_client.post(remove, {"reason": ""})

    assert done["Location"] == player_url("p1")
    assert shown(board) == ["p2"]
    assert [row[:3] for row in audit()] == [
        ("ban", "p1", ""),
        ("unban", "p1", ""),
        ("remove_score", "p1", "spring"),
    ]


def test_removing_a_score_on_an_unknown_board_says_so(admin_client, board):
    response = admin_client.get(f"{player_url('p1', 'remove_score')}?board=nowhere", follow=True)

    assert "No board &#x27;nowhere&#x27;." in response.content.decode()
    assert not AuditEntry.objects.exists()


def test_the_player_page_erases_the_player_after_a_confirmation(admin_client, board):
    erase = player_url("p1", "erase")
    assert erase in admin_client.get(player_url("p1")).content.decode()
    confirmation = admin_client.get(erase).content.decode()
    assert "Erase p1 for good?" in confirmation
    assert "cannot be undone" in confirmation
    assert Player.objects.filter(external_id="p1").exists()  # asking erased nothing

    done = admin_client.post(erase, {"reason": "GDPR request 42"}, follow=True)

    assert done.redirect_chain[-1][0] == reverse("admin:players_player_changelist")
    assert "The player is erased" in done.content.decode()
    assert not Player.objects.filter(external_id="p1").exists()
    assert shown(board) == ["p2"]
    (entry,) = AuditEntry.objects.all()
    assert (entry.action, entry.player_id, entry.actor, entry.actor_kind, entry.reason) == (
        "erase",
        "",
        "admin",
        "admin",
        "GDPR request 42",
    )
    assert entry.player_hash


# -- who may ------------------------------------------------------------------------------------


def test_moderation_needs_a_staff_login(client, board):
    for url in (f"{board_url(board, 'ban')}?player=p1", player_url("p1", "ban")):
        response = client.post(url, {"reason": "r"})
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]
    assert not AuditEntry.objects.exists()


def test_staff_without_the_right_to_change_players_cannot_moderate_them(client, board):
    staff = User.objects.create_user("viewer", password="pw", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_board", "change_board", "view_player"])
    )
    client.force_login(staff)

    assert client.post(f"{board_url(board, 'ban')}?player=p1", {"reason": "r"}).status_code == 403
    assert client.post(player_url("p1", "ban"), {"reason": "r"}).status_code == 403
    assert client.post(player_url("p1", "erase"), {"reason": "r"}).status_code == 403
    page = client.get(board_url(board), {"find_player": "p1"}).content.decode()
    assert board_url(board, "ban") not in page
    assert not AuditEntry.objects.exists()


def test_staff_who_may_change_but_not_delete_players_cannot_erase_them(client, board):
    staff = User.objects.create_user("moderator", password="pw", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_player", "change_player"])
    )
    client.force_login(staff)

    assert player_url("p1", "erase") not in client.get(player_url("p1")).content.decode()
    assert client.post(player_url("p1", "erase"), {"reason": "r"}).status_code == 403
    erase = f"{board_url(board, 'erase')}?player=p1"
    assert client.post(erase, {"reason": "r"}).status_code == 403
    assert Player.objects.filter(external_id="p1").exists()
    assert not AuditEntry.objects.exists()
