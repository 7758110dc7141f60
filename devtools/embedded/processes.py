"""How an embedded service's process starts and stops: the signal that stops each one
cleanly, and the kernel's parent-death signal so none outlives the process that started it."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def stop_signal(name: str) -> signal.Signals:
    # SIGINT is PostgreSQL's "fast" shutdown (SIGTERM waits for every client to leave), and
    # Tansu exits at once on SIGINT but lingers 5 s on SIGTERM while clients are connected.
    return signal.SIGTERM if name == "valkey" else signal.SIGINT


def child_setup(name: str, demote: Callable[[], None] | None) -> Callable[[], None]:
    """What a service's child process runs before exec: switch to the PostgreSQL user if
    needed, then (on Linux) have the kernel send the service its stop signal when the
    process that started it dies, so a test run or benchmark killed with SIGKILL leaves no
    service behind. The signal follows the thread that starts the service: start services
    from a thread that lives as long as they should."""
    parent = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
    stop = int(stop_signal(name))

    def setup() -> None:
        if demote is not None:
            demote()
        if libc is not None:
            # After the user switch, which clears the setting.
            libc.prctl(_PR_SET_PDEATHSIG, stop, 0, 0, 0)
            if os.getppid() != parent:  # the parent died before the line above
                os._exit(1)

    return setup


def stop(process: subprocess.Popen, name: str, timeout: float = 15) -> None:
    if process.poll() is not None:
        return
    process.send_signal(stop_signal(name))
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
