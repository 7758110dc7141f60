"""The admin as operators use it: series, filters, the top-10 preview and board actions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from leaderboards.models import Board, FinalStanding, Series
from leaderboards.postgres.deltas import DeltaRow, deltas_insert_batch
from leaderboards.tournaments import participant_join
from tests.factories import BoardFactory, PlayerFactory

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime.now(UTC)


def add(player: str, delta: int, at: datetime) -> None:
    pk = PlayerFactory(external_id=player).pk
    deltas_insert_batch(rows=[DeltaRow(uuid.uuid4(), pk, player, "score", delta, at, 0)])


def test_a_daily_berlin_series_added_in_the_admin_counts_events_at_once(admin_client):
    response = admin_client.post(
        "/admin/leaderboards/series/add/",
        {
            "slug": "berlin",
            "name": "Berlin daily",
            "metric": "score",
            "period": "daily",
            "reset_time": "02:00",
            "reset_weekday": "",
            "timezone": "Europe/Berlin",
            "aggregation": "sum",
            "sort_order": "desc",
            "tie_break": "player_id",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    series = Series.objects.get(slug="berlin")
    current = series.boards.get(starts_at__lte=NOW, ends_at__gt=NOW)
    add("ann", 7, NOW)
    body = admin_client.get(f"/api/v1/series/{series.slug}/current/entries/").json()
    assert [(e["player_id"], e["score"]) for e in body["results"]] == [("ann", 7)]
    assert current.slug in admin_client.get("/admin/leaderboards/series/").content.decode()


def test_a_bad_time_zone_is_refused_in_the_admin(admin_client):
    response = admin_client.post(
        "/admin/leaderboards/series/add/",
        {
            "slug": "x",
            "name": "x",
            "metric": "score",
            "period": "daily",
            "reset_time": "00:00",
            "timezone": "Nowhere/Land",
            "aggregation": "sum",
            "sort_order": "desc",
            "tie_break": "player_id",
        },
    )
    assert response.status_code == 200
    assert "is not an IANA time zone" in response.content.decode()
    assert not Series.objects.exists()


def test_the_board_page_previews_the_top_10(admin_client):
    board = BoardFactory(starts_at=NOW - timedelta(days=1))
    add("ann", 50, NOW)
    add("bob", 40, NOW)
    html = admin_client.get(f"/admin/leaderboards/board/{board.pk}/change/").content.decode()
    assert "<td>1</td><td>Ann</td><td>50</td>" in html
    assert "2 players ranked." in html


def test_the_board_page_shows_participants_and_bucket_places(admin_client):
    add("ann", 5, NOW)
    add("bob", 3, NOW)
    board = BoardFactory(starts_at=NOW - timedelta(days=1), join_required=True, bucket_size=1)
    participant_join(board=board, player_id="ann")

    html = admin_client.get(f"/admin/leaderboards/board/{board.pk}/change/").content.decode()

    assert "Participants" in html
    assert "Bucket places" in html
    assert 'name="join_required"' in html
    assert 'name="bucket_size"' in html
    # ann joined after she scored (her score does not count): a participant and a place;
    # bob a place only.
    assert html.count(">Ann</a>") == 2
    assert html.count(">Bob</a>") == 1


def test_the_status_filter_separates_live_ended_and_finalised_boards(admin_client):
    BoardFactory(slug="live-one", starts_at=NOW - timedelta(days=1))
    BoardFactory(
        slug="ended-one", starts_at=NOW - timedelta(days=2), ends_at=NOW - timedelta(days=1)
    )
    BoardFactory(
        slug="final-one",
        starts_at=NOW - timedelta(days=2),
        ends_at=NOW - timedelta(days=1),
        finalized_at=NOW,
    )
    html = admin_client.get("/admin/leaderboards/board/?status=live").content.decode()
    assert "live-one" in html
    assert "ended-one" not in html
    assert "final-one" not in html
    html = admin_client.get("/admin/leaderboards/board/?status=finalized").content.decode()
    assert "final-one" in html
    assert "ended-one" not in html


def test_actions_rebuild_finalise_and_export(admin_client, store):
    board = BoardFactory(starts_at=NOW - timedelta(days=2), ends_at=NOW - timedelta(days=1))
    add("ann", 5, NOW - timedelta(days=1, hours=1))
    url = "/admin/leaderboards/board/"

    admin_client.post(url, {"action": "rebuild_cache", "_selected_action": [board.pk]})
    assert store.state(board) == "ready"

    admin_client.post(url, {"action": "finalize_now", "_selected_action": [board.pk]})
    board.refresh_from_db()
    assert board.finalized_at is not None
    assert FinalStanding.objects.filter(board=board).count() == 1

    response = admin_client.post(url, {"action": "export_csv", "_selected_action": [board.pk]})
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines() == ["rank,player_id,display_name,score", "1,ann,Ann,5"]
    assert Board.objects.count() == 1
