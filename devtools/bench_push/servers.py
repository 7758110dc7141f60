"""The stream servers the push benchmark compares, both as `manage.py serve_streams --server`
runs them over config/asgi.py's `streams` (the same Django project, one event loop) with
production's settings, and what they cost: resident memory and CPU time of the server's
processes (granian's main process and its worker)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from devtools.bench_push.errors import BenchFailed
from devtools.embedded import free_port
from devtools.web_server import web_environment

SERVERS = ("granian", "uvicorn")
PRODUCTION = "granian"  # what `manage.py serve_streams` runs unless told --server uvicorn
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def server_argv(name: str, port: int, *, connections: int) -> list[str]:
    """`manage.py serve_streams` with server `name` on `port`, holding `connections`."""
    if name not in SERVERS:
        raise ValueError(f"unknown server {name!r}; expected one of {', '.join(SERVERS)}")
    return [
        sys.executable, "manage.py", "serve_streams", "--server", name,
        "--bind", f"127.0.0.1:{port}", "--max-streams", str(connections + 64),
    ]  # fmt: skip


def _tree(root: int) -> list[int]:
    """`root` and every process below it."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
    found, frontier = [root], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


@dataclass(frozen=True)
class Usage:
    rss_bytes: int
    cpu_seconds: float


def usage(root: int) -> Usage:
    """Resident memory and CPU time (user + system) of `root` and its children."""
    rss = 0
    cpu = 0.0
    for pid in _tree(root):
        with contextlib.suppress(OSError, IndexError, ValueError):
            rss += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return Usage(rss, cpu)


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def stream_server(
    name: str, *, connections: int, env: dict[str, str], log: Path
) -> Iterator[tuple[int, subprocess.Popen]]:
    """Stream server `name` on a free port with `env` over production's settings; yields
    its port and process once /healthz answers, and stops it on the way out."""
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        process = subprocess.Popen(
            server_argv(name, port, connections=connections),
            cwd=settings.BASE_DIR,
            env={**web_environment(), **env},
            stdout=output,
            stderr=output,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise BenchFailed(f"{name} exited with code {process.returncode}:\n{_tail(log)}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer,
            ):
                if answer.status == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchFailed(f"{name}: /healthz did not answer in 60 s:\n{_tail(log)}")
            time.sleep(0.2)
        yield port, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
