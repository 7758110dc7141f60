"""The player admin's delete confirmation counts what hangs off a player instead of
listing every row: a busy player's deltas made the page take seconds and hundreds of KB."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from leaderboards.models import Participant
from leaderboards.postgres.deltas import DeltaRow, deltas_insert_batch
from players.models import Player
from tests.factories import BoardFactory, PlayerFactory

pytestmark = pytest.mark.django_db

DELTAS = 2_000


def test_the_delete_page_of_a_busy_player_counts_the_deltas_that_protect_it(admin_client):
    player = PlayerFactory(external_id="busy", display_name="Busy Bee")
    start = datetime.now(UTC) - timedelta(hours=1)
    deltas_insert_batch(
        rows=[
            DeltaRow(uuid.uuid4(), player.pk, "busy", "score", 1, start + timedelta(seconds=i), 0)
            for i in range(DELTAS)
        ]
    )
    Participant.objects.create(board=BoardFactory(), player=player)
    url = reverse("admin:players_player_delete", args=[player.pk])

    response = admin_client.get(url)

    assert response.status_code == 200
    page = response.content.decode()
    assert len(response.content) < 50_000
    assert "2,000 score deltas" in page
    assert "1 participant" in page
    assert "busy score +1" not in page  # no delta listed row by row
    assert page.count("<li>") < 10
    assert admin_client.post(url, {"post": "yes"}).status_code == 200  # refused, shown again
    assert Player.objects.filter(pk=player.pk).exists()


def test_a_player_with_nothing_attached_is_deleted_from_a_counted_summary(admin_client):
    player = PlayerFactory(external_id="idle", display_name="Idle")
    url = reverse("admin:players_player_delete", args=[player.pk])

    page = admin_client.get(url).content.decode()

    assert "Are you sure you want to delete the player" in page
    assert "Players: 1" in page
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not Player.objects.filter(pk=player.pk).exists()


def test_the_bulk_delete_action_counts_too(admin_client):
    players = [PlayerFactory(external_id=f"bulk-{i}") for i in range(3)]
    deltas_insert_batch(
        rows=[
            DeltaRow(uuid.uuid4(), p.pk, p.external_id, "score", 1, datetime.now(UTC), 0)
            for p in players
            for _ in range(5)
        ]
    )

    response = admin_client.post(
        reverse("admin:players_player_changelist"),
        {"action": "delete_selected", "_selected_action": [p.pk for p in players]},
    )

    assert response.status_code == 200
    assert "15 score deltas" in response.content.decode()
