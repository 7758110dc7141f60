"""Recurring series: definition, windows created ahead, the current window by series slug."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError

from leaderboards.models import Board
from leaderboards.postgres.deltas import DeltaRow, deltas_insert_batch
from leaderboards.services import (
    series_create,
    series_current_board,
    series_ensure_windows,
)
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def berlin_daily(**overrides):
    fields = {
        "slug": "berlin",
        "name": "Berlin daily",
        "period": "daily",
        "reset_time": time(2, 0),
        "timezone": "Europe/Berlin",
        "now": NOW,
    }
    return series_create(**{**fields, **overrides})


def test_creating_a_series_opens_its_current_window_and_the_next():
    series = berlin_daily()
    boards = list(series.boards.order_by("starts_at"))
    assert [b.slug for b in boards] == ["berlin-2026-11-22", "berlin-2026-11-23"]
    assert boards[0].starts_at == datetime(2026, 11, 22, 1, tzinfo=UTC)
    assert boards[0].ends_at == boards[1].starts_at == datetime(2026, 11, 23, 1, tzinfo=UTC)
    assert (boards[0].metric, boards[0].series) == ("score", series)


def test_a_series_gives_its_windows_its_tie_break():
    series = berlin_daily(tie_break="earliest")
    assert {b.tie_break for b in series.boards.all()} == {"earliest"}


def test_windows_are_created_once_however_often_the_scheduler_runs():
    series = berlin_daily()
    for _ in range(3):
        series_ensure_windows(series, now=NOW, ahead=2)
    assert series.boards.count() == 3


def test_the_current_window_rolls_over_at_the_local_reset_time():
    series = berlin_daily()
    before = series_current_board(series, now=datetime(2026, 11, 23, 0, 59, 59, tzinfo=UTC))
    after = series_current_board(series, now=datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    assert (before.slug, after.slug) == ("berlin-2026-11-22", "berlin-2026-11-23")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"period": "weekly"}, "reset_weekday"),
        ({"reset_weekday": 2}, "reset_weekday"),
        ({"period": "hourly"}, "period"),
    ],
)
def test_bad_definitions_are_refused_with_the_field_named(overrides, field):
    with pytest.raises(ValidationError) as caught:
        berlin_daily(**overrides)
    assert field in caught.value.message_dict


def test_the_api_creates_a_series_and_serves_its_current_window(keyed_client, client):
    response = keyed_client.post(
        "/api/v1/series/",
        {
            "slug": "weekly-cup",
            "name": "Weekly cup",
            "period": "weekly",
            "reset_time": "18:00",
            "reset_weekday": 4,
            "timezone": "America/New_York",
            "aggregation": "max",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["reset_time"] == "18:00"

    current = client.get("/api/v1/series/weekly-cup/current/").json()
    board = Board.objects.get(slug=current["slug"])
    assert board.starts_at <= datetime.now(UTC) < board.ends_at
    assert board.ends_at - board.starts_at == timedelta(days=7)
    assert current["aggregation"] == "max"

    player = PlayerFactory(external_id="ada")
    deltas_insert_batch(
        rows=[DeltaRow(uuid.uuid4(), player.pk, "ada", "score", 42, datetime.now(UTC), 0)]
    )
    entries = client.get("/api/v1/series/weekly-cup/current/entries/").json()
    assert [(e["rank"], e["player_id"], e["score"]) for e in entries["results"]] == [(1, "ada", 42)]

    boards = client.get("/api/v1/series/weekly-cup/boards/").json()
    assert current["slug"] in [b["slug"] for b in boards["results"]]


def test_writes_to_series_need_an_api_key(client):
    response = client.post(
        "/api/v1/series/", {"slug": "x", "name": "x", "period": "daily"}, format="json"
    )
    assert response.status_code in (401, 403)
    assert client.get("/api/v1/series/nope/current/").status_code == 404


def test_a_series_without_a_reset_time_resets_at_midnight(keyed_client, client):
    """The serializer's default is a time, not the string "00:00": DRF hands a default to
    the view as it is, without parsing it."""
    response = keyed_client.post(
        "/api/v1/series/",
        {"slug": "daily-cup", "name": "Daily cup", "period": "daily"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["reset_time"] == "00:00"
    current = client.get("/api/v1/series/daily-cup/current/").json()
    board = Board.objects.get(slug=current["slug"])
    assert (board.starts_at.hour, board.starts_at.minute) == (0, 0)
