"""The micro-cache of shared pages (leaderboards/api/response_cache.py): a popular page is
rendered once per period per process, and a change shows once the period is over."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from tests.factories import BoardFactory, ScoreDeltaFactory

pytestmark = pytest.mark.django_db

AT = datetime(2026, 1, 1, 1, tzinfo=UTC)


@pytest.fixture
def cached(settings, redis_client):
    settings.LEADERBOARD_RESPONSE_CACHE_MS = 200
    return APIClient()


def score(player_id: str, delta: int) -> None:
    ScoreDeltaFactory(player__external_id=player_id, delta=delta, created_at=AT)


def players(response) -> list[str]:
    return [entry["player_id"] for entry in response.json()["results"]]


def test_a_page_is_served_again_within_the_period_and_fresh_after_it(cached):
    BoardFactory(slug="b", starts_at=AT - timedelta(hours=1), ends_at=None)
    score("p1", 5)
    url = "/api/v1/leaderboards/b/entries/"
    first = cached.get(url)

    score("p2", 9)
    again = cached.get(url)
    other_page = cached.get(url + "?limit=10")  # another URL: its own answer
    time.sleep(0.25)
    later = cached.get(url)

    assert players(first) == players(again) == ["p1"]
    assert again["Content-Type"] == "application/json"
    assert again["X-Request-ID"] != first["X-Request-ID"]  # still a request of its own
    assert players(other_page) == ["p2", "p1"]
    assert players(later) == ["p2", "p1"]


def test_errors_and_player_lookups_are_not_cached(cached):
    assert cached.get("/api/v1/leaderboards/b/entries/").status_code == 404
    BoardFactory(slug="b", starts_at=AT - timedelta(hours=1), ends_at=None)
    assert cached.get("/api/v1/leaderboards/b/entries/").status_code == 200

    assert cached.get("/api/v1/leaderboards/b/players/p1/").status_code == 404
    score("p1", 5)
    assert cached.get("/api/v1/leaderboards/b/players/p1/").status_code == 200


def test_answers_are_kept_per_accept_header(cached):
    BoardFactory(slug="b", starts_at=AT - timedelta(hours=1), ends_at=None)
    url = "/api/v1/leaderboards/b/entries/"
    assert cached.get(url).status_code == 200

    refused = cached.get(url, HTTP_ACCEPT="application/xml")  # not served the JSON kept

    assert refused.status_code == 406
