"""Embedded services (config/embedded.py) do not outlive the process that started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent

START_VALKEY = """
import sys, time
from pathlib import Path
from config.embedded import EmbeddedServices
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
