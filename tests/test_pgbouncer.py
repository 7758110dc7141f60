"""The service through PgBouncer in transaction pooling mode, as production runs it.

Existing tests are run again, in a pytest subprocess whose DATABASE_URL names a pgbouncer
(tests/pgbouncer.py) in front of this run's PostgreSQL: the consumer (COPY through its
staging table), the board lifecycle with a real Celery worker, standings (server-side
cursors), CSV exports and the admin's board page (its select widgets). The subset is what
touches session-scoped features; the rest of the suite runs queries no different from
these. Migrations go straight to PostgreSQL, as operators run them.
"""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
from django.conf import settings

from tests.ingestion.kafka_helpers import BASE_DIR
from tests.pgbouncer import PGBOUNCER, PgBouncer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PGBOUNCER is None, reason="no pgbouncer (.ci/run installs Debian's)"),
]

THROUGH_PGBOUNCER = [
    "tests/ingestion/test_consumer.py::test_events_flow_from_kafka_to_the_ranked_board",
    "tests/ingestion/test_consumer.py::test_offsets_are_stored_with_the_deltas",
    "tests/leaderboards/test_lifecycle.py",
    "tests/leaderboards/test_tasks.py::test_a_worker_finalises_ended_boards_sent_to_it",
    "tests/leaderboards/postgres/test_standings.py"
    "::test_each_part_of_a_window_comes_from_the_coarsest_grain_that_fits_and_edges_from_the_log",
    "tests/leaderboards/postgres/test_standings.py::test_deltas_past_the_watermark_are_read_from_the_log",
    "tests/leaderboards/postgres/test_standings.py::test_the_stream_gives_the_exact_epoch_milliseconds_of_a_last_score",
    "tests/leaderboards/test_admin_operators.py::test_actions_rebuild_finalise_and_export",
    # The admin's select widgets read their choices with QuerySet.iterator().
    "tests/leaderboards/test_admin_operators.py::test_the_board_page_previews_the_top_10",
]
# The subprocess's database: pytest-django adds "test_" to the URL's name, and --reuse-db
# finds it there, migrated beforehand.
DATABASE = "leaderboards_pgbouncer"
TEST_DATABASE = f"test_{DATABASE}"


def _postgres_url(database: str) -> str:
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{database}"


def _recreate_database() -> None:
    with psycopg.connect(_postgres_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{TEST_DATABASE}"')


def _run(argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def test_database():
    """The subprocess's test database, created and migrated straight on PostgreSQL."""
    _recreate_database()
    env = {**os.environ, "DATABASE_URL": _postgres_url(TEST_DATABASE)}
    migrate = _run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], env, 300)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    yield TEST_DATABASE
    with psycopg.connect(_postgres_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DATABASE}" WITH (FORCE)')


@pytest.fixture
def pgbouncer(test_database):
    db = settings.DATABASES["default"]
    bouncer = PgBouncer(postgres_host=db["HOST"], postgres_port=int(db["PORT"])).start()
    yield bouncer
    bouncer.stop()


@pytest.mark.timeout(660)  # the subprocess's own limit is 600 s
def test_ingestion_lifecycle_standings_and_exports_work_through_transaction_pooling(pgbouncer):
    env = {**os.environ, "DATABASE_URL": pgbouncer.url(DATABASE)}
    env.pop("PYTEST_ADDOPTS", None)
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--reuse-db"]
    result = _run([*argv, *THROUGH_PGBOUNCER], env, 600)

    output = f"{result.stdout}\n{result.stderr}\npgbouncer log:\n{pgbouncer.log()}"
    assert result.returncode == 0, output
    # It really went through pgbouncer, in transaction mode, over several server sessions.
    (pool,) = [p for p in pgbouncer.admin("SHOW POOLS") if p["database"] == TEST_DATABASE]
    assert pool["pool_mode"] == "transaction"
    (stats,) = [s for s in pgbouncer.admin("SHOW STATS") if s["database"] == TEST_DATABASE]
    assert stats["total_xact_count"] > 500, stats
    servers = [s for s in pgbouncer.admin("SHOW SERVERS") if s["database"] == TEST_DATABASE]
    assert len(servers) == pgbouncer.pool_size
