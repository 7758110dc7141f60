"""`manage.py serve_streams` in a child process for the tests (the stream tests and the
browser's): production's settings on the test database and Redis, on a free port."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from django.conf import settings

from devtools.embedded import free_port
from devtools.web_server import web_environment
from tests.ingestion.kafka_helpers import stop, wait_for


def answers(port: int, path: str = "/healthz") -> int:
    """The status `path` answers with on the stream server, 0 when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


class StreamServer(NamedTuple):
    port: int
    pid: int

    def threads(self) -> int:
        """The OS threads of the server's processes now (granian serves from a child)."""
        return sum(_threads(pid) for pid in [self.pid, *_children(self.pid)])


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Threads:"))[8:])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[1]) == pid:
                    found.append(int(entry.name))
    return found


@contextlib.contextmanager
def stream_server(**env: str) -> Iterator[StreamServer]:
    """The stream server with `env` over production's settings; yields its port and pid
    once /healthz answers, and stops it on the way out."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve_streams", "--bind", f"127.0.0.1:{port}"],
        cwd=settings.BASE_DIR,
        env={**web_environment(), **env},
    )
    try:
        wait_for(lambda: answers(port) == 200, timeout=60, message="serve_streams /healthz")
        yield StreamServer(port, process.pid)
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            stop(process, timeout=15)
        if process.poll() is None:
            process.kill()
            process.wait()
