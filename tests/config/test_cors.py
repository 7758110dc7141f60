"""Cross-origin reads (config/cors.py): off by default; when CORS_ALLOWED_ORIGINS names an
origin, its pages may GET the public read endpoints and nothing else."""

from __future__ import annotations

import pytest

from tests.config.test_settings import run_python
from tests.factories import BoardFactory

pytestmark = pytest.mark.django_db

PROMO = "https://promo.example.com"
ALLOW_ORIGIN = "Access-Control-Allow-Origin"


@pytest.fixture
def board():
    return BoardFactory(slug="cup")


@pytest.fixture
def promo_allowed(settings):
    settings.CORS_ALLOWED_ORIGINS = [PROMO]


PUBLIC_READS = [
    "/api/v1/leaderboards/",
    "/api/v1/leaderboards/cup/entries/",
    "/api/v1/leaderboards/cup/entries.csv",
    "/api/v1/standings/?from=2026-01-01T00:00:00Z",
]


@pytest.mark.parametrize("url", PUBLIC_READS)
def test_off_by_default_no_cors_headers(client, board, url):
    response = client.get(url, headers={"Origin": PROMO})

    assert response.status_code == 200
    assert ALLOW_ORIGIN not in response
    assert "origin" not in response.get("Vary", "").lower()


@pytest.mark.parametrize("url", PUBLIC_READS)
def test_a_configured_origin_reads_the_public_api(client, board, promo_allowed, url):
    response = client.get(url, headers={"Origin": PROMO})

    assert response.status_code == 200
    assert response[ALLOW_ORIGIN] == PROMO
    assert "origin" in response["Vary"].lower()  # a CDN keeps one copy per origin
    assert "Access-Control-Allow-Credentials" not in response


def test_another_origin_gets_no_cors_headers(client, board, promo_allowed):
    response = client.get("/api/v1/leaderboards/", headers={"Origin": "https://evil.example"})

    assert ALLOW_ORIGIN not in response


def test_a_preflight_for_a_read_is_answered(client, board, promo_allowed):
    response = client.options(
        "/api/v1/leaderboards/cup/entries/",
        headers={
            "Origin": PROMO,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "if-none-match",
        },
    )

    assert response.status_code == 200
    assert response[ALLOW_ORIGIN] == PROMO
    assert response["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert "authorization" not in response["Access-Control-Allow-Headers"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_a_preflight_for_a_write_is_refused(client, board, promo_allowed, method):
    response = client.options(
        "/api/v1/leaderboards/cup/participants/",
        headers={"Origin": PROMO, "Access-Control-Request-Method": method},
    )

    assert ALLOW_ORIGIN not in response


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/api/v1/events/"),
        ("post", "/api/v1/leaderboards/"),
        ("get", "/api/v1/rejected-events/"),
        ("get", "/admin/login/"),
        ("get", "/boards/cup/"),
    ],
)
def test_writes_keyed_and_non_api_paths_never_get_cors_headers(
    client, board, promo_allowed, method, url
):
    response = getattr(client, method)(url, headers={"Origin": PROMO})

    assert ALLOW_ORIGIN not in response


def test_an_origin_with_a_path_stops_start_up():
    result = run_python(
        "import django; django.setup()", CORS_ALLOWED_ORIGINS="https://promo.example.com/"
    )
    assert result.returncode != 0
    assert "CORS_ALLOWED_ORIGINS: 'https://promo.example.com/' is not an origin" in result.stderr


def test_origins_are_read_from_the_environment():
    result = run_python(
        "from django.conf import settings; print(settings.CORS_ALLOWED_ORIGINS)",
        CORS_ALLOWED_ORIGINS="https://a.example, http://localhost:3000",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['https://a.example', 'http://localhost:3000']"
