"""Where the embedded services listen: the fixed `make run` ports, the URLs the settings read,
and small socket helpers to find a free port and wait for one to open."""

from __future__ import annotations

import os
import socket
import subprocess
import time

# Ports for `make run`; chosen away from the usual 5432/6379/9092 so a real local
# service does not collide with the embedded one. config/settings/base.py's DEFAULT_*_URL name
# them too, written out so that production never imports this package;
# tests/devtools/test_embedded.py checks that the two agree.
DEFAULT_PORTS = {"postgres": 55432, "valkey": 56379, "kafka": 59092}
DATABASE_NAME = "leaderboards"
SERVICES = ("postgres", "valkey", "kafka")
# The setting (and environment variable) that names each service.
ENV_VARS = {"postgres": "DATABASE_URL", "valkey": "REDIS_URL", "kafka": "KAFKA_BOOTSTRAP_SERVERS"}
# The variables manage.py read from the .devstack/env file of `make run` (comma-separated):
# the dev stack's URLs, not ones the environment chose, so a benchmark starts its own.
DEVSTACK_ENV_LOADED = "DEVSTACK_ENV_LOADED"


def named_url(name: str) -> str | None:
    """The URL the environment names for service `name`, if any (one manage.py read from
    .devstack/env does not count)."""
    var = ENV_VARS[name]
    if var in os.environ.get(DEVSTACK_ENV_LOADED, "").split(","):
        return None
    return os.environ.get(var) or None


def forget_devstack_env(names: tuple[str, ...]) -> None:
    """`names`' variables now name services of our own, not the dev stack's."""
    loaded = os.environ.get(DEVSTACK_ENV_LOADED, "").split(",")
    kept = [var for var in loaded if var and var not in {ENV_VARS[name] for name in names}]
    if kept:
        os.environ[DEVSTACK_ENV_LOADED] = ",".join(kept)
    else:
        os.environ.pop(DEVSTACK_ENV_LOADED, None)


def database_url(port: int) -> str:
    return f"postgres://postgres@127.0.0.1:{port}/{DATABASE_NAME}"


def redis_url(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"


def kafka_bootstrap(port: int) -> str:
    return f"127.0.0.1:{port}"


def service_url(name: str, port: int) -> str:
    """The value of `ENV_VARS[name]` for the embedded `name` on `port`."""
    return {"postgres": database_url, "valkey": redis_url, "kafka": kafka_bootstrap}[name](port)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for_port(name: str, port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(port):
        if process.poll() is not None:
            raise RuntimeError(f"embedded {name} exited with code {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"embedded {name} did not listen on port {port} in {timeout}s")
        time.sleep(0.05)
