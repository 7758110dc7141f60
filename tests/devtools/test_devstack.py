"""`make run`'s .devstack/env (devtools/devstack/env.py): manage.py in a checkout reads it when
the environment names nothing of its own, production's environment never lets it, and the
benchmarks do not take its URLs for ones the environment chose."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.devstack.env import devstack_env, env_file_write
from devtools.embedded import database_url, kafka_bootstrap, redis_url
from devtools.guard import refuse_services_not_started_here

BASE_DIR = Path(__file__).resolve().parents[2]
STACK_DATABASE = "postgres://postgres@127.0.0.1:41999/leaderboards"
PRINT_SETTINGS = (
    "from django.conf import settings;"
    " print(settings.DEBUG, settings.DATABASE_URL, settings.KAFKA_BOOTSTRAP_SERVERS,"
    " settings.KAFKA_TOPIC)"
)


def manage_py_settings(env: dict[str, str]) -> str:
    """What `python manage.py shell` sees under `env`: DEBUG, two URLs and the topic."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DEVSTACK_"))
        and key not in {"DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC"}
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", PRINT_SETTINGS],
        cwd=BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def devstack(tmp_path) -> Path:
    env_file_write(
        {
            "DJANGO_DEBUG": "1",
            "DATABASE_URL": STACK_DATABASE,
            "KAFKA_BOOTSTRAP_SERVERS": "k:1",
            "KAFKA_TOPIC": "stack-topic",
        },
        tmp_path / "env",
    )
    return tmp_path


def test_manage_py_finds_the_stack_when_the_environment_names_nothing(devstack):
    seen = manage_py_settings({"DEVSTACK_DIR": str(devstack)})

    assert seen == f"True {STACK_DATABASE} k:1 stack-topic"


def test_a_variable_the_environment_sets_wins_over_the_file(devstack):
    seen = manage_py_settings({"DEVSTACK_DIR": str(devstack), "KAFKA_TOPIC": "my-topic"})

    assert seen == f"True {STACK_DATABASE} k:1 my-topic"


def test_production_settings_never_read_the_file(devstack):
    production = {
        "DEVSTACK_DIR": str(devstack),
        "DJANGO_SECRET_KEY": "production-secret",
        "KAFKA_BOOTSTRAP_SERVERS": "kafka.internal:9092",
    }

    seen = manage_py_settings(production)

    assert STACK_DATABASE not in seen
    assert seen.startswith("False ")
    assert seen.endswith(" kafka.internal:9092 score-events")


def test_the_file_names_the_embedded_ports_or_what_the_environment_set():
    environ = {"EMBEDDED_VALKEY_PORT": "41001", "KAFKA_BOOTSTRAP_SERVERS": "broker:9092"}

    values = devstack_env(web_port=8123, environ=environ)

    assert values["DJANGO_DEBUG"] == "1"
    assert values["DATABASE_URL"] == database_url(55432)
    assert values["REDIS_URL"] == redis_url(41001)
    assert values["KAFKA_BOOTSTRAP_SERVERS"] == "broker:9092" != kafka_bootstrap(59092)
    assert values["DEVSTACK_WEB_URL"] == "http://127.0.0.1:8123"
    # Procfile.dev's second line, the stream server, gets honcho's base port + 100.
    assert values["STREAM_PUBLIC_URL"] == "http://127.0.0.1:8223"
    procfile = (BASE_DIR / "Procfile.dev").read_text()
    lines = [line for line in procfile.splitlines() if line and not line.startswith("#")]
    assert [line.split(":")[0] for line in lines[:2]] == ["web", "streams"]
    assert 'serve_streams --bind "127.0.0.1:$PORT"' in lines[1]


def test_a_benchmark_does_not_count_the_stacks_urls_as_named(monkeypatch):
    """manage.py read DATABASE_URL from .devstack/env: the benchmark starts its own database
    rather than refuse (or load `make run`'s)."""
    monkeypatch.setenv("DATABASE_URL", STACK_DATABASE)
    monkeypatch.setenv("DEVSTACK_ENV_LOADED", "DJANGO_DEBUG,DATABASE_URL")

    refuse_services_not_started_here(("postgres",), not_production=False)
