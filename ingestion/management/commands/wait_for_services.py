"""`manage.py wait_for_services`: block until PostgreSQL, Redis and Kafka answer.

Process managers (honcho behind `make run`, an orchestrator's init step) start every
process at once; this lets the ones that need the services wait for them instead of
crashing. With `--migrated` it also waits until the database schema is up to date, for
processes that must not run against a half-migrated database.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import redis
from confluent_kafka.admin import AdminClient
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

from config.kafka import client_config

POLL_SECONDS = 0.5
REPORT_EVERY_SECONDS = 10.0


def check_postgres() -> None:
    connection = connections["default"]
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        connection.close()
        raise


def check_redis() -> None:
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1, retry_on_timeout=False
    )
    try:
        client.ping()
    finally:
        client.close()


def check_kafka() -> None:
    # A plain TCP probe first: librdkafka logs every refused connection, which would bury
    # the useful output while the broker starts.
    servers = [s.strip() for s in settings.KAFKA_BOOTSTRAP_SERVERS.split(",") if s.strip()]
    reachable = False
    for server in servers:
        host, _, port = server.rpartition(":")
        try:
            socket.create_connection((host.strip("[]") or "localhost", int(port)), 1).close()
            reachable = True
            break
        except OSError:
            continue
    if not reachable:
        raise ConnectionError(f"no broker listening at {settings.KAFKA_BOOTSTRAP_SERVERS}")
    AdminClient(client_config()).list_topics(timeout=5)


def unapplied_migrations() -> int:
    connection = connections["default"]
    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def _describe_database() -> str:
    db = settings.DATABASES["default"]
    return f"{db.get('HOST') or 'local socket'}:{db.get('PORT') or 5432}/{db.get('NAME')}"


def _describe_redis() -> str:
    url = urlsplit(settings.REDIS_URL)
    return f"{url.hostname}:{url.port or 6379}{url.path}"


class Command(BaseCommand):
    help = "Wait until PostgreSQL, Redis and Kafka answer (and, with --migrated, migrations ran)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--migrated",
            action="store_true",
            help="also wait until the database has no unapplied migrations",
        )
        parser.add_argument(
            "--timeout", type=float, default=120, help="seconds before giving up (default 120)"
        )

    def handle(self, *args, migrated, timeout, **options):
        checks: dict[str, tuple[str, Callable[[], None]]] = {
            "PostgreSQL": (_describe_database(), check_postgres),
            "Redis": (_describe_redis(), check_redis),
            "Kafka": (settings.KAFKA_BOOTSTRAP_SERVERS, check_kafka),
        }
        if migrated:
            checks["migrations"] = ("no unapplied migrations", self._check_migrated)
        self.say(
            "Waiting for " + ", ".join(f"{name} ({where})" for name, (where, _) in checks.items())
        )
        started = time.monotonic()
        deadline = started + timeout
        last_report = started
        errors: dict[str, str] = {}
        while checks:
            for name, (_where, check) in list(checks.items()):
                if name == "migrations" and "PostgreSQL" in checks:
                    continue  # needs the database first
                try:
                    check()
                except Exception as exc:  # any failure means "not yet"
                    errors[name] = _first_line(exc)
                else:
                    del checks[name]
                    errors.pop(name, None)
                    self.say(f"{name} ready ({time.monotonic() - started:.1f}s)")
            if not checks:
                break
            now = time.monotonic()
            if now >= deadline:
                raise CommandError(
                    f"Gave up after {timeout:g}s waiting for "
                    + "; ".join(f"{name}: {errors.get(name, 'no answer')}" for name in checks)
                )
            if now - last_report >= REPORT_EVERY_SECONDS:
                last_report = now
                self.say(
                    "Still waiting for "
                    + "; ".join(f"{name}: {errors.get(name, 'no answer')}" for name in checks)
                )
            time.sleep(POLL_SECONDS)
        connections.close_all()

    def _check_migrated(self) -> None:
        pending = unapplied_migrations()
        if pending:
            raise RuntimeError(f"{pending} unapplied migrations")

    def say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
