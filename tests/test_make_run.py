"""What `make run` relies on (`wait_for_services`), and `make run` itself as a newcomer meets
it: one summary once the web answers, whose URLs, login, key and first-event commands work,
and Ctrl-C leaving nothing behind."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest
from django.contrib.auth.hashers import check_password
from django.core.management import call_command
from django.core.management.base import CommandError

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


def _stream_type(url: str) -> str:
    """The Content-Type a stream answers with ("" when it does not answer)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.headers.get_content_type()
    except OSError:
        return ""


def _summary(log: str) -> list[str]:
    """The lines the `summary` process printed, without honcho's prefix."""
    printed = re.compile(r"^\S+ summary\.1 +\| (.*)$", re.MULTILINE)
    return printed.findall(log)


def _command(lines: list[str], heading: str) -> str:
    """The command printed, indented, under the line starting with `heading`."""
    start = next(i for i, line in enumerate(lines) if line.startswith(heading)) + 1
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("  "))
    return "\n".join(line.strip() for line in lines[start:end])


def _field(lines: list[str], label: str) -> str:
    """What the summary shows after `label` (`  API key    <key>`)."""
    return next(
        line.strip().removeprefix(label).strip()
        for line in lines
        if line.strip().startswith(f"{label}  ")
    )


def _shell(command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """A printed command as a newcomer pastes it, in the checkout."""
    return subprocess.run(
        ["bash", "-c", command], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )


def _check_the_summary(log: str, ports: dict[str, int], env: dict[str, str]) -> list[str]:
    """Every URL of the summary answers, its admin password is admin's, and its first-event
    commands (HTTP and Kafka) are both counted on today's board. Returns its lines."""
    assert log.count("Promofy leaderboards is running") == 1, log[-4000:]
    lines = _summary(log)
    base = f"http://127.0.0.1:{ports['web']}"
    for label in ("Pages", "API docs", "API", "Admin"):
        url = _field(lines, label).split()[0]
        assert url.startswith(base), (label, url)
        assert _get(url) == 200, (label, url)
    # The stream server, on the web's port + 100 (Procfile.dev's second line), streams.
    streams = _field(lines, "Streams").split()[0]
    assert streams.startswith(f"http://127.0.0.1:{ports['web'] + 100}/api/v1/"), streams
    deadline = time.monotonic() + 60
    while _stream_type(streams) != "text/event-stream" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _stream_type(streams) == "text/event-stream", streams
    admin = _field(lines, "Admin")
    password = re.search(r"user admin, password (\S+)$", admin).group(1)
    with psycopg.connect(database_url(ports["postgres"])) as conn:
        stored = conn.execute("SELECT password FROM auth_user WHERE username = 'admin'").fetchone()
    assert check_password(password, stored[0])
    assert f"{kafka_bootstrap(ports['kafka'])}, topic score-events" in _field(lines, "Kafka")

    key = _field(lines, "API key")
    http = _command(lines, "A first event over HTTP")
    assert key in http
    sent = _shell(http, env)
    assert sent.returncode == 0, sent
    assert json.loads(sent.stdout) == {"accepted": 1}, sent
    sent = _shell(_command(lines, "and one over Kafka"), env)
    assert sent.returncode == 0, sent
    check = _command(lines, "See them counted")
    deadline = time.monotonic() + 60
    while True:
        seen = _shell(check, env)
        entry = json.loads(seen.stdout) if seen.stdout.startswith("{") else {}
        if entry.get("score") == 75 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert entry.get("score") == 75, seen
    return lines


@pytest.mark.slow
def test_make_run_prints_one_working_summary_and_ctrl_c_leaves_nothing_behind(tmp_path):
    names = ("postgres", "valkey", "kafka", "web", "consumer-metrics", "worker-metrics")
    ports = {name: free_port() for name in names}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"KAFKA_TOPIC", "KAFKA_CONSUMER_GROUP", "PORT", "METRICS_BIND_ADDRESS"}
        and not key.startswith("MAKE")
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
        CONSUMER_METRICS_PORT=str(ports["consumer-metrics"]),
        WORKER_METRICS_PORT=str(ports["worker-metrics"]),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    # What a newcomer's shell has: none of the URLs (manage.py finds them in DEVSTACK_DIR).
    newcomer = {key: value for key, value in env.items() if key not in {
        "DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "DJANGO_DEBUG",
        "DJANGO_SETTINGS_MODULE", "DJANGO_SECRET_KEY",
    }}  # fmt: skip
    url = f"http://127.0.0.1:{ports['web']}/api/v1/leaderboards/"
    log_path = tmp_path / "make-run.log"

    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["make", "run", f"PORT={ports['web']}"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    children: dict[int, str] = {}
    left: list[str] = []
    try:
        deadline = time.monotonic() + 120  # a loaded 2-core machine starts ten processes
        status = 0
        while time.monotonic() < deadline and process.poll() is None:
            status = _get(url)
            if status == 200:
                break
            time.sleep(0.5)
        log = log_path.read_text(errors="replace")
        assert status == 200, f"{url} answered {status}; make run's log:\n{log[-4000:]}"
        # The consumer's and the worker's metrics listen on this host only, not the network;
        # the summary comes once the web answers.
        expected = [
            f"serving metrics at http://127.0.0.1:{ports['consumer-metrics']}/metrics",
            f"worker metrics on http://127.0.0.1:{ports['worker-metrics']}/metrics",
            "This summary again:",
        ]
        while time.monotonic() < deadline and not all(line in log for line in expected):
            time.sleep(0.5)
            log = log_path.read_text(errors="replace")
        assert [line for line in expected if line not in log] == [], log[-4000:]
        # The services' own start-up logs went to their files, not the terminal.
        assert "database system is ready to accept connections" not in log
        assert "database system is ready" in (tmp_path / "devstack" / "postgres.log").read_text()
        lines = _check_the_summary(log, ports, env)

        # In another terminal, manage.py finds the stack by itself: the summary again.
        again = subprocess.run(
            ["make", "--no-print-directory", "manage", "ARGS=devstack_summary"],
            cwd=BASE_DIR,
            env=newcomer,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert "\n".join(lines) in again.stdout

        children = _descendants(process.pid)
        assert len(children) >= 6

        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        process.wait(timeout=30)
        left = _still_running(children)
    finally:
        # Never leave our own processes running, whatever happened above.
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for line in _still_running(children):
            os.kill(int(line.split()[0]), signal.SIGKILL)

    assert not left, "left behind after Ctrl-C:\n" + "\n".join(left)
    assert log_path.read_text(errors="replace").count("Promofy leaderboards is running") == 1
