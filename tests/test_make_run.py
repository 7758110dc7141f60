"""What `make run` relies on: `wait_for_services`, and the Procfile under honcho."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import Resolver404, resolve

from devtools.embedded import database_url, free_port, kafka_bootstrap, redis_url

BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_wait_for_services_returns_once_everything_answers():
    out = io.StringIO()

    call_command("wait_for_services", "--migrated", "--timeout", "20", stdout=out)

    for name in ("PostgreSQL", "Redis", "Kafka", "migrations"):
        assert f"{name} ready" in out.getvalue()


@pytest.mark.django_db
def test_wait_for_services_gives_up_naming_what_is_missing(settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = f"127.0.0.1:{free_port()}"

    started = time.monotonic()
    with pytest.raises(CommandError, match=r"Gave up after 1s waiting for Kafka: "):
        call_command("wait_for_services", "--timeout", "1", stdout=io.StringIO())
    assert time.monotonic() - started < 10


@pytest.mark.django_db
def test_wait_for_services_waits_for_pending_migrations(monkeypatch):
    from ingestion.management.commands import wait_for_services

    monkeypatch.setattr(wait_for_services, "unapplied_migrations", lambda: 2)

    with pytest.raises(CommandError, match="migrations: RuntimeError: 2 unapplied migrations"):
        call_command("wait_for_services", "--migrated", "--timeout", "1", stdout=io.StringIO())


def _process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, start time) for every process we can see."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(entry.name)] = (int(fields[1]), fields[19])
    return table


def _descendants(root: int) -> dict[int, str]:
    """Every process below `root`, with its start time (to tell a reused pid apart)."""
    table = _process_table()
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, started) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = started
                frontier.append(pid)
    return found


def _still_running(processes: dict[int, str]) -> list[str]:
    table = _process_table()
    left = []
    for pid, started in processes.items():
        if pid in table and table[pid][1] == started:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if state != "Z":
                left.append(f"{pid} {command.decode(errors='replace')[:120]}")
    return left


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@pytest.mark.slow
def test_procfile_starts_everything_and_ctrl_c_leaves_nothing_behind(tmp_path):
    names = ("postgres", "valkey", "kafka", "web", "consumer-metrics", "worker-metrics")
    ports = {name: free_port() for name in names}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"KAFKA_TOPIC", "KAFKA_CONSUMER_GROUP", "PORT", "METRICS_BIND_ADDRESS"}
    }
    env.update(
        DEVSTACK_DIR=str(tmp_path / "devstack"),
        EMBEDDED_POSTGRES_PORT=str(ports["postgres"]),
        EMBEDDED_VALKEY_PORT=str(ports["valkey"]),
        EMBEDDED_KAFKA_PORT=str(ports["kafka"]),
        # The settings' defaults are the fixed `make run` ports: point them here instead.
        DATABASE_URL=database_url(ports["postgres"]),
        REDIS_URL=redis_url(ports["valkey"]),
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap(ports["kafka"]),
        DJANGO_DEBUG="1",
        CONSUMER_METRICS_PORT=str(ports["consumer-metrics"]),
        WORKER_METRICS_PORT=str(ports["worker-metrics"]),
        PYTHONUNBUFFERED="1",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    try:
        resolve("/api/v1/leaderboards/")
        path = "/api/v1/leaderboards/"
    except Resolver404:  # the API is not routed in this build yet: the admin proves the rest
        path = "/admin/login/"
    url = f"http://127.0.0.1:{ports['web']}{path}"
    log_path = tmp_path / "honcho.log"
    honcho = Path(sys.executable).parent / "honcho"

    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(honcho), "-f", "Procfile.dev", "start", "-p", str(ports["web"])],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    children: dict[int, str] = {}
    left: list[str] = []
    try:
        deadline = time.monotonic() + 90  # a loaded 2-core machine starts nine processes
        status = 0
        while time.monotonic() < deadline and process.poll() is None:
            status = _get(url)
            if status == 200:
                break
            time.sleep(0.5)
        log = log_path.read_text(errors="replace")
        assert status == 200, f"{url} answered {status}; honcho log:\n{log[-4000:]}"
        # The consumer's and the worker's metrics listen on this host only, not the network.
        metrics = [
            f"serving metrics at http://127.0.0.1:{ports['consumer-metrics']}/metrics",
            f"worker metrics on http://127.0.0.1:{ports['worker-metrics']}/metrics",
        ]
        while time.monotonic() < deadline and not all(line in log for line in metrics):
            time.sleep(0.5)
            log = log_path.read_text(errors="replace")
        assert [line for line in metrics if line not in log] == [], log[-4000:]
        children = _descendants(process.pid)
        assert len(children) >= 6

        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        process.wait(timeout=20)
        left = _still_running(children)
    finally:
        # Never leave our own processes running, whatever happened above.
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for line in _still_running(children):
            os.kill(int(line.split()[0]), signal.SIGKILL)

    assert not left, "left behind after Ctrl-C:\n" + "\n".join(left)
    assert "Admin user created" in log_path.read_text(errors="replace")
