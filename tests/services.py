"""pytest plugin: real PostgreSQL, Redis and Kafka for the suite.

Loaded with `-p tests.services` (pyproject addopts) so it runs before pytest-django reads
the settings. Whatever the environment leaves unset (`DATABASE_URL`, `REDIS_URL`,
`KAFKA_BOOTSTRAP_SERVERS`) is started here, embedded, on free ports, and stopped at the end;
whatever it names is used as it is.

Under pytest-xdist (`-n`) each worker starts services of its own and the controller, which
runs no tests, starts none: a worker's tests flush its Redis, and its outage tests stop and
start its PostgreSQL, Valkey and Kafka, without touching another worker's.
"""

from __future__ import annotations

import contextlib
import os

import pytest

from devtools.embedded import services_for_unset_env

_stack: contextlib.ExitStack | None = None
embedded = None  # the EmbeddedServices started for this session, if any


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    global _stack, embedded
    os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key")
    # The suite tests the workbench's commands too (tests/devtools/).
    os.environ.setdefault("DJANGO_DEVTOOLS", "1")
    # Consumers join (and killed ones are noticed) within seconds rather than tens of them:
    # the embedded broker holds a join for half the session (1 s here, 3 s at 6 s), and
    # the suite's consumers join a group a hundred-odd times. Heartbeats go every third of
    # it (ingestion/kafka.py).
    os.environ.setdefault("KAFKA_SESSION_TIMEOUT_MS", "2000")
    # Test consumers and workers serve no metrics port unless a test asks for one.
    os.environ.setdefault("CONSUMER_METRICS_PORT", "0")
    os.environ.setdefault("WORKER_METRICS_PORT", "0")
    # A test reads back what it just wrote; the micro-cache has its own tests.
    os.environ.setdefault("LEADERBOARD_RESPONSE_CACHE_MS", "0")
    # The test client speaks plain HTTP; the redirect to HTTPS has its own tests.
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
    # The suite sends many requests from one address; the limits have their own tests.
    os.environ.setdefault("THROTTLE_READ_RATE", "100000/minute")
    os.environ.setdefault("THROTTLE_WRITE_RATE", "100000/minute")
    if not os.environ.get("PYTEST_XDIST_WORKER") and _hands_tests_to_workers(early_config):
        return
    _stack = contextlib.ExitStack()
    embedded = _stack.enter_context(services_for_unset_env())


def _hands_tests_to_workers(config) -> bool:
    """True in the controller of an xdist run (`-n 4`, `-n auto`; not `-n 0` or without
    pytest-xdist), which only hands tests to its workers."""
    return bool(getattr(config.known_args_namespace, "numprocesses", None))


def pytest_unconfigure(config):
    if _stack is not None:
        _stack.close()
