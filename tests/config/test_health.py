"""Liveness and readiness probes against the real services, and with one of them gone."""

from __future__ import annotations

import socket

import pytest
from django.db import connections

from config import health


def test_healthz_answers_ok_without_touching_any_service(client, settings):
    # No django_db mark: pytest-django fails any database access. Redis and Kafka point
    # nowhere.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:1"

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_reports_every_service_ok(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "kafka"}
    for result in body["checks"].values():
        assert result["ok"] is True
        assert result["ms"] >= 0
        assert "error" not in result


@pytest.mark.django_db
def test_readyz_is_503_and_names_the_failed_service_when_redis_is_unreachable(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["redis"]["ok"] is False
    assert "ConnectionError" in body["checks"]["redis"]["error"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["kafka"]["ok"] is True


@pytest.mark.django_db
def test_readyz_fails_kafka_within_its_timeout_when_no_broker_answers(settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:1"

    report = health.readiness()

    kafka = report["checks"]["kafka"]
    assert report["status"] == "fail"
    assert kafka["ok"] is False
    assert kafka["error"]
    assert kafka["ms"] < (health.KAFKA_TIMEOUT_SECONDS + 1) * 1000
    assert report["checks"]["database"]["ok"] is True
    assert report["checks"]["redis"]["ok"] is True


@pytest.mark.django_db
def test_the_database_check_fails_within_the_connect_timeout_when_nothing_answers(
    settings, monkeypatch
):
    # The kernel completes the handshake into the listen queue, but nobody ever answers:
    # without a connect timeout libpq would wait for ever.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        database = connections.create_connection("default")
        database.settings_dict = {**database.settings_dict, "PORT": silent.getsockname()[1]}
        database.settings_dict["HOST"] = "127.0.0.1"
        monkeypatch.setattr(health, "connection", database)

        result = health.run_check(health.check_database)

    timeout = settings.DATABASES["default"]["OPTIONS"]["connect_timeout"]
    assert timeout == 5
    assert result["ok"] is False
    assert "timeout" in result["error"]
    assert timeout * 1000 <= result["ms"] < (timeout + 2) * 1000


def test_a_check_that_raises_is_reported_with_its_error_and_never_raises():
    def broken() -> None:
        raise RuntimeError("disk on fire\n" + "x" * 1000)

    result = health.run_check(broken)

    assert result["ok"] is False
    assert result["error"].startswith("RuntimeError: disk on fire")
    assert len(result["error"]) <= health.MAX_ERROR_LENGTH


def test_probes_answer_only_get_and_head(client):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405
