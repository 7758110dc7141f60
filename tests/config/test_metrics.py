"""The consumer's and the worker's metrics servers (config/metrics.py) listen on
METRICS_BIND_ADDRESS: loopback under `make run` (DJANGO_DEBUG), every interface in
production unless told otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from config.celery_app import serve_worker_metrics
from config.metrics import metrics_serve
from devtools.embedded import free_port
from ingestion.management.commands.consume_scores import _serve_metrics

BASE_DIR = Path(__file__).resolve().parents[2]

SERVE_ON_PORT_0 = """
import django
django.setup()
from config.metrics import metrics_serve
server = metrics_serve(0)
print(server.server_address[0])
server.shutdown()
"""


def bound_address(**env: str) -> str:
    """Where a fresh process's metrics server listens, under `env` (METRICS_BIND_ADDRESS and
    DJANGO_DEBUG unset unless given)."""
    inherited = {
        k: v for k, v in os.environ.items() if k not in ("METRICS_BIND_ADDRESS", "DJANGO_DEBUG")
    }
    result = subprocess.run(
        [sys.executable, "-c", SERVE_ON_PORT_0],
        cwd=BASE_DIR,
        env={**inherited, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def test_development_serves_metrics_on_loopback_only():
    assert bound_address(DJANGO_DEBUG="1") == "127.0.0.1"


def test_production_serves_metrics_on_every_interface_by_default():
    assert bound_address() == "0.0.0.0"


def test_the_setting_chooses_the_address_in_development_and_production():
    assert bound_address(DJANGO_DEBUG="1", METRICS_BIND_ADDRESS="0.0.0.0") == "0.0.0.0"
    assert bound_address(METRICS_BIND_ADDRESS="127.0.0.1") == "127.0.0.1"


def test_an_address_that_is_not_an_ip_stops_start_up():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=BASE_DIR,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "METRICS_BIND_ADDRESS": "everywhere",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "METRICS_BIND_ADDRESS='everywhere' is not an IP address" in result.stderr


@pytest.mark.parametrize("address", ["127.0.0.1", "0.0.0.0"])
def test_the_metrics_server_listens_where_the_setting_says(settings, address):
    settings.METRICS_BIND_ADDRESS = address
    server = metrics_serve(0)
    try:
        host, port = server.server_address[:2]
        assert host == address
        assert "# HELP" in scrape(port)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "start",
    [
        lambda port: _serve_metrics(range(port, port + 1)),  # manage.py consume_scores
        lambda port: serve_worker_metrics(),  # celery worker, once ready
    ],
    ids=["consumer", "worker"],
)
def test_the_consumer_and_the_worker_serve_metrics_on_the_setting(settings, start):
    settings.METRICS_BIND_ADDRESS = "127.0.0.1"
    settings.WORKER_METRICS_PORT = port = free_port()
    server = start(port)
    try:
        assert server.server_address[:2] == ("127.0.0.1", port)
        assert "# HELP" in scrape(port)
    finally:
        server.shutdown()
        server.server_close()
