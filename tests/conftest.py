"""Fixtures shared by the whole suite: the real services, isolated per test."""

from __future__ import annotations

import os
import uuid

import pytest
import redis as redis_lib
from django.conf import settings
from django.test import override_settings

from access.models import Scope
from config.throttling import throttle_breaker_reset, throttle_leases_clear
from leaderboards.api.response_cache import response_cache_clear
from leaderboards.cache import read_through
from leaderboards.cache.catalog import catalog
from leaderboards.cache.store import get_store, redis_breaker_reset, reset_store
from tests import services
from tests.factories import api_client_with


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Under `make test` (pytest-xdist, `--dist worksteal`), start the slow tests first and
    spread them evenly: worksteal first hands each of its N workers one contiguous share of
    the collection, then moves the end of the longest queue to a worker that runs dry. Left
    in collection order, the two-minute cluster test or a kill -9 scenario could start last
    and hold the whole run while the other workers idle; put at the head of each share, in
    turn, the slow tests run while the short ones fill in around them. (Last: after
    pytest-django's ordering and `-k`/`-m` deselection, so the shares are the ones worksteal
    cuts.) The order is the same in every worker, as xdist requires."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)  # set in xdist workers
    if workers < 2:
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if not slow:
        return
    rest = iter([item for item in items if not item.get_closest_marker("slow")])
    ordered, remaining = [], len(items)
    for share in range(workers):
        size = remaining // (workers - share)  # as worksteal cuts its initial shares
        remaining -= size
        heads = slow[share::workers]
        ordered += heads + [next(rest) for _ in range(max(0, size - len(heads)))]
    ordered += list(rest)
    items[:] = ordered


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hasher():
    """MD5 first among the password hashers: PBKDF2's million rounds cost a third of a
    second of CPU for every admin user a test creates and every password a test logs in or
    guesses with. The others stay listed, so a password another process stored (`make run`'s
    admin) is still checked with the hasher that stored it."""
    hashers = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]
    with override_settings(PASSWORD_HASHERS=hashers):
        yield


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
