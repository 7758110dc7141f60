"""Liveness and readiness, for load balancers and Kubernetes probes.

`/healthz` answers as long as the process serves requests and touches nothing else, so a
database outage never gets healthy web processes restarted. `/readyz` checks each service a
request may need (PostgreSQL, Redis, Kafka) and reports every one, with 503 when any fails,
so a load balancer stops sending traffic to a process that cannot serve it. The stream
server's `/readyz` (config/urls_streams.py) checks PostgreSQL and Redis only: a stream never
touches Kafka.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis
from confluent_kafka.admin import AdminClient
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from config.kafka import client_config

REDIS_TIMEOUT_SECONDS = 1.0
KAFKA_TIMEOUT_SECONDS = 2.0
# Enough to say what failed; a driver's full message can run to several lines.
MAX_ERROR_LENGTH = 300

logger = logging.getLogger(__name__)


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_redis() -> None:
    """The Redis of the boards (on a cluster, the node REDIS_URL names) and, when it is
    another, the plain Redis of Django's cache and the rate limits."""
    for url in dict.fromkeys([settings.REDIS_URL, settings.CACHE_REDIS_URL]):
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        try:
            client.ping()
        finally:
            client.close()


def check_kafka() -> None:
    # librdkafka's own complaints (connection refused, ...) go through Python logging.
    admin = AdminClient(client_config(logger=logging.getLogger("config.health.kafka")))
    admin.list_topics(timeout=KAFKA_TIMEOUT_SECONDS)


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "redis": check_redis,
    "kafka": check_kafka,
}


def run_check(check: Callable[[], None]) -> dict[str, object]:
    """{"ok": true, "ms": 1.2} or {"ok": false, "ms": ..., "error": "..."}: a check fails by
    raising, whatever it raises."""
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:
        ms = round((time.perf_counter() - started) * 1000, 1)
        error = f"{type(exc).__name__}: {exc}".strip()[:MAX_ERROR_LENGTH]
        return {"ok": False, "ms": ms, "error": error}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


STREAM_CHECKS = ("database", "redis")


def readiness(names: tuple[str, ...] | None = None) -> dict[str, object]:
    """The named checks' (default: all) results, and "ok" overall only when all passed."""
    checks = {name: run_check(CHECKS[name]) for name in names or CHECKS}
    failed = [name for name, result in checks.items() if not result["ok"]]
    if failed:
        logger.warning("not ready: %s failed", ", ".join(failed), extra={"checks": checks})
    return {"status": "fail" if failed else "ok", "checks": checks}


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    report = readiness()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


@never_cache
@require_safe
def streams_readyz(request: HttpRequest) -> JsonResponse:
    report = readiness(STREAM_CHECKS)
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)
