"""The tasks through a real Celery worker process, with Redis as the broker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from config.celery_app import app
from leaderboards import tasks
from leaderboards.models import Board, FinalStanding
from leaderboards.postgres.deltas import DeltaRow, deltas_insert_batch
from tests.factories import BoardFactory, PlayerFactory
from tests.ingestion.kafka_helpers import BASE_DIR

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def metrics_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(settings, metrics_port, *, pool: str = "solo", env: dict | None = None):
    """`celery -A config worker` against the test database and the test Redis."""
    db = settings.DATABASES["default"]
    credentials = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "LEADERBOARD_FINALIZE_GRACE_SECONDS": "0",
        "WORKER_METRICS_PORT": str(metrics_port),
        **(env or {}),
    }
    app.conf.broker_url = app.conf.result_backend = settings.REDIS_URL
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            pool,
            "--concurrency",
            "1",
            "--loglevel",
            "WARNING",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def worker(redis_client, settings, metrics_port):
    process = _worker(settings, metrics_port)
    yield process
    process.terminate()
    process.wait(30)


@pytest.fixture
def prefork_worker(redis_client, settings, metrics_port, tmp_path):
    """The production pool: tasks run in a forked child, whose counters reach the main
    process's endpoint through PROMETHEUS_MULTIPROC_DIR (prometheus_client's files)."""
    process = _worker(
        settings,
        metrics_port,
        pool="prefork",
        env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
    )
    yield process
    process.terminate()
    process.wait(30)


def test_a_worker_finalises_ended_boards_sent_to_it(worker):
    ended = datetime.now(UTC) - timedelta(hours=1)
    board = BoardFactory(starts_at=ended - timedelta(days=1), ends_at=ended)
    player = PlayerFactory(external_id="ann")
    deltas_insert_batch(
        rows=[DeltaRow(uuid.uuid4(), player.pk, "ann", "score", 5, ended - timedelta(hours=1), 0)]
    )

    result = tasks.boards_finalize.delay()

    assert result.get(timeout=60) == [board.pk]
    assert Board.objects.get(pk=board.pk).finalized_at is not None
    assert FinalStanding.objects.filter(board=board).count() == 1
    assert tasks.board_finalize.delay(board.pk).get(timeout=30) is False  # idempotent


def test_the_worker_serves_the_cache_sync_counters(worker, metrics_port):
    tasks.cache_sync.delay().get(timeout=60)

    body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read()

    assert b'leaderboards_cache_sync_boards_total{action="warmed"}' in body


def test_a_prefork_worker_serves_the_counters_its_children_count(prefork_worker, metrics_port):
    tasks.cache_sync.delay().get(timeout=60)

    body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read()

    assert b'leaderboards_cache_sync_boards_total{action="warmed"}' in body
