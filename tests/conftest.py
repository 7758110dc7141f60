"""Fixtures shared by the whole suite: the real services, isolated per test."""

from __future__ import annotations

import uuid

import pytest
import redis as redis_lib
from django.conf import settings

from access.models import Scope
from config.throttling import throttle_breaker_reset, throttle_leases_clear
from leaderboards.api.response_cache import response_cache_clear
from leaderboards.cache import read_through
from leaderboards.cache.catalog import catalog
from leaderboards.cache.store import get_store, redis_breaker_reset, reset_store
from tests import services
from tests.factories import api_client_with


@pytest.fixture
def keyed_client(db):
    """An API client sending a valid `Authorization: Api-Key <key>` header, the key holding
    every scope."""
    return api_client_with(*Scope.values)


@pytest.fixture
def embedded_services():
    """The embedded services of this run, for tests that stop and start them."""
    if services.embedded is None:
        pytest.skip("outage tests need the embedded services; this run uses external ones")
    return services.embedded


@pytest.fixture
def redis_client():
    """A clean Redis for the test: with REDIS_CLUSTER (tests/leaderboards/cache/test_cluster.py
    runs tests so), the cluster, and the plain Redis of Django's cache too."""
    if settings.REDIS_CLUSTER:
        client = redis_lib.RedisCluster.from_url(settings.REDIS_URL)
        client.flushdb(target_nodes=redis_lib.RedisCluster.PRIMARIES)
        with redis_lib.Redis.from_url(settings.CACHE_REDIS_URL) as cache_redis:
            cache_redis.flushdb()
    else:
        client = redis_lib.Redis.from_url(settings.REDIS_URL)
        client.flushdb()
    reset_store()
    yield client
    reset_store()
    client.close()


@pytest.fixture
def store(redis_client, monkeypatch):
    """The Redis store, empty. A read that misses builds the board before it answers, so
    tests of reads served from Redis see them served from Redis (production builds in the
    background and answers that first read from PostgreSQL)."""
    monkeypatch.setattr(read_through, "build_inline", True)
    return get_store()


@pytest.fixture(autouse=True)
def _fresh_catalog():
    """Board definitions (and answers, and rate-limit leases) kept by one test must not
    answer the next one's: each test's rows are rolled back, and their commits (which would
    invalidate) never run; Redis is flushed under the leases. A Redis failure one test
    noted (the store's and the rate limiter's back-off) does not hold back the next."""
    redis_breaker_reset()
    throttle_breaker_reset()
    catalog.invalidate()
    response_cache_clear()
    throttle_leases_clear()
    yield
    read_through.cache_builds_wait()
    catalog.clear()
    redis_breaker_reset()
    throttle_breaker_reset()


@pytest.fixture
def topic(settings):
    """A topic of its own for the test, so tests never see each other's events."""
    name = f"score-events-test-{uuid.uuid4().hex[:10]}"
    settings.KAFKA_TOPIC = name
    settings.KAFKA_CONSUMER_GROUP = f"group-{name}"
    return name
