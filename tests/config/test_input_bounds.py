"""Out-of-range input is a 400 naming the parameter, never a server error: paging
parameters of every list, and oversize request bodies (413, before they are read)."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from leaderboards.models import Board

pytestmark = pytest.mark.django_db

HUGE = str(10**20)
LISTS = [
    "/api/v1/leaderboards/",
    "/api/v1/leaderboards/open/entries/",
    "/api/v1/series/",
    "/api/v1/standings/?from=2026-01-01T00:00:00Z",
    "/api/v1/rejected-events/",
]


@pytest.fixture(autouse=True)
def board(redis_client):
    return Board.objects.create(slug="open", name="Open", starts_at=timezone.now())


def get(client: APIClient, path: str, **params):
    joiner = "&" if "?" in path else "?"
    return client.get(path + joiner + "&".join(f"{k}={v}" for k, v in params.items()))


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"offset": HUGE}, "offset"),
        ({"offset": "1000000001"}, "offset"),
        ({"offset": "-1"}, "offset"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": HUGE}, "limit"),
        ({"limit": "ten"}, "limit"),
    ],
)
def test_paging_out_of_range_is_a_400_naming_the_parameter(keyed_client, path, params, field):
    response = get(keyed_client, path, **params)

    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]


@pytest.mark.parametrize("path", LISTS)
def test_the_last_offset_allowed_answers_an_empty_page(keyed_client, path):
    response = get(keyed_client, path, offset="1000000000", limit="1000")

    assert response.status_code == 200, response.content
    assert response.json()["results"] == []


def test_the_board_page_clamps_a_huge_offset_rather_than_failing(client):
    response = client.get(f"/boards/open/?offset={HUGE}")

    assert response.status_code == 200


def test_an_oversize_body_is_refused_with_413_before_it_is_read(keyed_client, settings, topic):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    events = [{"player_id": f"p{i}", "delta": 1} for i in range(100)]

    response = keyed_client.post("/api/v1/events/", events, format="json")

    assert response.status_code == 413
    assert response.json()["detail"].endswith("bytes; at most 1000 are accepted.")
    ok = keyed_client.post("/api/v1/events/", events[:5], format="json")
    assert ok.status_code == 202


def test_an_oversize_form_post_to_a_page_is_refused_too(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10

    response = client.post("/admin/login/", {"username": "x" * 50, "password": "y"})

    assert response.status_code == 413
    assert response["Content-Type"] == "text/plain; charset=utf-8"
