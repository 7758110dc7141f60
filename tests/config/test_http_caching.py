"""HTTP caching (config/http_caching.py): shared reads carry a strong ETag and
`Cache-Control: public, max-age`, and answer 304 to a client holding them; every other API
answer is private and not stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from hashlib import blake2b

import pytest
from rest_framework.test import APIClient

from leaderboards.services import series_create
from tests.factories import BoardFactory, ScoreDeltaFactory

pytestmark = pytest.mark.django_db

AT = datetime(2026, 1, 1, 1, tzinfo=UTC)
SHARED = [
    "/api/v1/leaderboards/b/entries/",
    "/api/v1/leaderboards/b/entries/?limit=1",
    "/api/v1/leaderboards/b/",
    "/api/v1/series/daily/current/entries/",
]


@pytest.fixture
def board(redis_client):
    board = BoardFactory(slug="b", starts_at=AT - timedelta(hours=1), ends_at=None)
    ScoreDeltaFactory(player__external_id="p1", delta=5, created_at=AT)
    return board


@pytest.mark.parametrize("url", SHARED)
def test_a_shared_read_carries_a_strong_etag_of_its_body_and_is_public(board, url, redis_client):
    series_create(slug="daily", name="Daily", period="daily")

    response = APIClient().get(url)

    assert response.status_code == 200
    assert response["ETag"] == f'"{blake2b(response.content, digest_size=16).hexdigest()}"'
    assert response["Cache-Control"] == "public, max-age=1"


@pytest.mark.parametrize("cache_ms", [0, 200])
def test_a_client_holding_the_version_gets_a_304_and_a_new_version_a_new_tag(
    board, settings, cache_ms
):
    settings.LEADERBOARD_RESPONSE_CACHE_MS = cache_ms
    client = APIClient()
    url = "/api/v1/leaderboards/b/entries/"
    etag = client.get(url)["ETag"]

    again = client.get(url, HTTP_IF_NONE_MATCH=etag)

    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert again["Cache-Control"] == "public, max-age=1"
    settings.LEADERBOARD_RESPONSE_CACHE_MS = 0  # read the change at once
    ScoreDeltaFactory(player__external_id="p2", delta=9, created_at=AT)
    changed = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


@pytest.mark.parametrize(
    "if_none_match",
    ['"other", {etag}', "W/{etag}", "*", '{etag} , "other"'],
)
def test_if_none_match_lists_weak_tags_and_star_match(board, if_none_match):
    client = APIClient()
    etag = client.get("/api/v1/leaderboards/b/")["ETag"]

    response = client.get(
        "/api/v1/leaderboards/b/", HTTP_IF_NONE_MATCH=if_none_match.format(etag=etag)
    )

    assert response.status_code == 304


@pytest.mark.parametrize("if_none_match", ['"other"', "garbage", "", '"' + "a" * 10_000 + '"'])
def test_a_tag_that_does_not_match_gets_the_body(board, if_none_match):
    response = APIClient().get("/api/v1/leaderboards/b/", HTTP_IF_NONE_MATCH=if_none_match)

    assert response.status_code == 200
    assert response.json()["slug"] == "b"


def test_max_age_comes_from_the_setting(board, settings):
    settings.LEADERBOARD_HTTP_MAX_AGE_SECONDS = 0

    response = APIClient().get("/api/v1/leaderboards/b/entries/")

    assert response["Cache-Control"] == "public, max-age=0"


def test_player_answers_errors_and_writes_are_private(board, keyed_client):
    client = APIClient()
    for response in [
        client.get("/api/v1/leaderboards/b/players/p1/"),
        client.get("/api/v1/leaderboards/b/players/p1/?around=2"),
        client.post("/api/v1/leaderboards/b/ranks/", {"player_ids": ["p1"]}, format="json"),
        client.get("/api/v1/players/p1/"),
        client.get("/api/v1/leaderboards/nope/entries/"),
        client.get("/api/v1/leaderboards/b/entries/?limit=0"),
        keyed_client.post("/api/v1/webhooks/", {"url": "x", "events": []}, format="json"),
    ]:
        assert response["Cache-Control"] == "private, no-store", response.request["PATH_INFO"]
        assert "ETag" not in response


def test_pages_outside_the_api_are_left_alone(board):
    response = APIClient().get("/healthz")

    assert "Cache-Control" not in response or "public" not in response["Cache-Control"]
