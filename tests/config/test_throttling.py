"""Rate limits through the whole stack (middleware, DRF, Redis): reads per client IP,
writes per API key, 429 with Retry-After, recovery, trusted proxy hops, and a Redis outage
that turns the limits off rather than failing requests."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

import config.throttling
from access.models import ApiKey, Scope
from config.throttling import ReadRateThrottle, WriteRateThrottle
from leaderboards.cache.store import redis_breaker_reset
from leaderboards.models import Board

pytestmark = pytest.mark.django_db

ENTRIES = "/api/v1/leaderboards/open/entries/"


@pytest.fixture(autouse=True)
def board(redis_client, monkeypatch):
    config.throttling.throttle_breaker_reset()
    return Board.objects.create(slug="open", name="Open", starts_at=timezone.now())


def limit(monkeypatch, throttle, rate: str | None) -> None:
    monkeypatch.setitem(throttle.THROTTLE_RATES, throttle.scope, rate)


def statuses(client: APIClient, n: int, path: str = ENTRIES, **extra) -> list[int]:
    return [client.get(path, **extra).status_code for _ in range(n)]


def test_a_burst_of_reads_is_refused_with_429_and_retry_after_then_recovers(monkeypatch):
    limit(monkeypatch, ReadRateThrottle, "5/second")
    client = APIClient()

    codes = statuses(client, 20)
    refused = client.get(ENTRIES)

    # 20 requests take far less than two windows: at most 10 pass.
    assert 5 <= codes.count(200) <= 10
    assert codes.count(429) >= 10
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"
    assert refused.json()["detail"].startswith("Request was throttled.")
    time.sleep(1.05)
    assert client.get(ENTRIES).status_code == 200


def test_answers_from_the_micro_cache_are_limited_too(monkeypatch, settings):
    settings.LEADERBOARD_RESPONSE_CACHE_MS = 900
    limit(monkeypatch, ReadRateThrottle, "3/minute")

    codes = statuses(APIClient(), 6)

    assert codes == [200, 200, 200, 429, 429, 429]


def test_each_client_address_has_its_own_limit_and_forwarded_for_is_ignored_by_default(
    monkeypatch,
):
    limit(monkeypatch, ReadRateThrottle, "2/minute")
    client = APIClient()

    first = statuses(client, 3, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.1.1.1")
    spoofed = statuses(client, 1, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="2.2.2.2")
    other = statuses(client, 2, REMOTE_ADDR="10.0.0.2")

    assert first == [200, 200, 429]
    assert spoofed == [429]
    assert other == [200, 200]


def test_behind_trusted_proxies_the_client_is_the_address_they_saw(monkeypatch, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    limit(monkeypatch, ReadRateThrottle, "2/minute")
    client = APIClient()
    proxy = {"REMOTE_ADDR": "10.0.0.9"}

    # The proxy appends the address it saw; what the client wrote before it is ignored.
    alice = statuses(client, 2, HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7", **proxy)
    alice += statuses(client, 1, HTTP_X_FORWARDED_FOR="7.7.7.7, 203.0.113.7", **proxy)
    bob = statuses(client, 2, HTTP_X_FORWARDED_FOR="203.0.113.8", **proxy)

    assert alice == [200, 200, 429]
    assert bob == [200, 200]


def test_writes_are_limited_per_api_key(monkeypatch, topic):
    limit(monkeypatch, WriteRateThrottle, "2/minute")
    clients = []
    for name in ("a", "b"):
        _, key = ApiKey.objects.create_key(name=name, scopes=[Scope.EVENTS_WRITE])
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        clients.append(client)

    def post(client):
        return client.post("/api/v1/events/", {"player_id": "p1", "delta": 1}, format="json")

    codes_a = [post(clients[0]).status_code for _ in range(3)]
    codes_b = [post(clients[1]).status_code for _ in range(2)]

    assert codes_a == [202, 202, 429]
    assert codes_b == [202, 202]
    # Reads are limited apart from writes: the same address still reads.
    assert clients[0].get(ENTRIES).status_code == 200


def test_ranks_of_a_list_count_as_reads(monkeypatch):
    limit(monkeypatch, ReadRateThrottle, "1/minute")
    limit(monkeypatch, WriteRateThrottle, None)
    client = APIClient()

    codes = [
        client.post(
            "/api/v1/leaderboards/open/ranks/", {"player_ids": ["p1"]}, format="json"
        ).status_code
        for _ in range(2)
    ]

    assert codes == [200, 429]


def test_with_redis_down_requests_pass_unthrottled(monkeypatch, embedded_services):
    limit(monkeypatch, ReadRateThrottle, "1/minute")
    # The store backs off from Redis too (the reads go to PostgreSQL); not past this test
    # (tests/conftest.py resets both back-offs after it).
    redis_breaker_reset()
    embedded_services.stop("valkey")
    try:
        codes = statuses(APIClient(), 3)
    finally:
        embedded_services.start("valkey")

    assert codes == [200, 200, 200]


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/boards/open/", "text/plain; charset=utf-8"),
        ("/boards/open/entries-fragment/", "text/plain; charset=utf-8"),
        ("/api/v1/leaderboards/open/entries.csv", "application/json"),
    ],
)
def test_pages_and_the_csv_export_share_the_read_limit(monkeypatch, path, content_type):
    limit(monkeypatch, ReadRateThrottle, "2/minute")
    client = APIClient()

    codes = statuses(client, 2, path)
    refused = client.get(path)

    assert codes == [200, 200]
    assert refused.status_code == 429
    assert refused["Content-Type"] == content_type
    assert int(refused["Retry-After"]) >= 1
    assert b"Request was throttled." in refused.content


def _admitted(throttle_class, n: int, tables: list[dict]) -> int:
    """How many of n reads from one address the limiter admits, the requests going round
    the processes whose lease tables are `tables`."""
    request = Request(APIRequestFactory().get("/", REMOTE_ADDR="192.0.2.1"))
    admitted = 0
    for i in range(n):
        config.throttling._leases = tables[i % len(tables)]
        admitted += throttle_class().allow_request(request, None)
    return admitted


def test_a_process_takes_the_count_in_leases_of_a_hundredth_of_the_rate(monkeypatch, redis_client):
    limit(monkeypatch, ReadRateThrottle, "1000/minute")
    config.throttling.throttle_leases_clear()

    assert _admitted(ReadRateThrottle, 25, [{}]) == 25

    [key] = redis_client.keys("throttle:reads:*")
    assert int(redis_client.get(key)) == 30  # three leases of 10, not 25 calls


def test_leases_never_admit_more_than_the_rate_and_few_less_across_processes(
    monkeypatch, redis_client
):
    limit(monkeypatch, ReadRateThrottle, "1000/minute")
    config.throttling.throttle_leases_clear()
    if time.time() % 60 > 55:  # keep the run inside one window
        time.sleep(60 - time.time() % 60 + 0.1)

    admitted = _admitted(ReadRateThrottle, 1500, [{}, {}, {}])

    # Each of the 3 processes may hold at most a lease (10) it has not used up.
    assert 1000 - 3 * 9 <= admitted <= 1000
