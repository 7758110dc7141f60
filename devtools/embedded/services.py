"""All three embedded services as child processes on free ports, for the tests and the
benchmarks: start and stop them, export their URLs, or run a command again against them."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from devtools.embedded.addresses import (
    ENV_VARS,
    SERVICES,
    forget_devstack_env,
    free_port,
    named_url,
    service_url,
    wait_for_port,
)
from devtools.embedded.kafka import kafka_argv
from devtools.embedded.postgres import ensure_database, postgres_argv
from devtools.embedded.processes import child_setup, stop
from devtools.embedded.valkey import valkey_argv

# What run_again_with_embedded started, as {env var: URL}, for the command it runs again: the
# benchmarks load data only into services started for them (devtools/guard.py).
STARTED_FOR_RUN_ENV = "DEVTOOLS_STARTED_FOR_RUN"


def service_command(
    name: str, state_dir: Path, port: int, *, durable: bool
) -> tuple[list[str], Callable[[], None]]:
    """The argv that runs `name` in the foreground, and what its child runs before exec."""
    if name == "postgres":
        argv, demote = postgres_argv(state_dir / "postgres", port, durable=durable)
        return argv, child_setup(name, demote)
    if name == "valkey":
        return valkey_argv(state_dir / "valkey", port), child_setup(name, None)
    if name == "kafka":
        return kafka_argv(port), child_setup(name, None)
    raise ValueError(f"unknown service {name!r}; expected one of {', '.join(SERVICES)}")


@dataclass
class EmbeddedServices:
    """PostgreSQL, Valkey and Tansu as child processes on free ports, for tests and benchmarks.

    Only the services named in `names` start; `env()` gives the settings that point at them.
    A service can be stopped and started again (on the same port) to test outages.
    """

    names: tuple[str, ...] = SERVICES
    state_dir: Path | None = None
    durable: bool = False
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.state_dir is None:
            self.state_dir = Path(tempfile.mkdtemp(prefix="leaderboards-services-"))
        for name in self.names:
            self.ports.setdefault(name, free_port())

    def start(self, name: str | None = None) -> EmbeddedServices:
        for each in [name] if name else self.names:
            argv, preexec = service_command(
                each, self.state_dir, self.ports[each], durable=self.durable
            )
            log = open(self.state_dir / f"{each}.log", "ab")  # noqa: SIM115 (lives as long as the child)
            self.processes[each] = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=preexec,
                start_new_session=True,
            )
            log.close()
        for each in [name] if name else self.names:
            wait_for_port(each, self.ports[each], self.processes[each])
            if each == "postgres":
                ensure_database(self.ports[each])
        return self

    def stop(self, name: str | None = None) -> None:
        for each in [name] if name else reversed(self.names):
            if each in self.processes:
                stop(self.processes.pop(each), each)

    def env(self) -> dict[str, str]:
        return {ENV_VARS[name]: service_url(name, port) for name, port in self.ports.items()}


def started_for_this_run(name: str) -> bool:
    """Whether the environment's URL for `name` is one run_again_with_embedded started."""
    started = json.loads(os.environ.get(STARTED_FOR_RUN_ENV) or "{}")
    url = named_url(name)
    return bool(url) and started.get(ENV_VARS[name]) == url


@contextlib.contextmanager
def services_for_unset_env(
    names: tuple[str, ...] = SERVICES, *, state_dir: Path | None = None, durable: bool = False
) -> Iterator[EmbeddedServices | None]:
    """Start embedded services for whichever of `names`' URLs the environment leaves unset
    (their data under `state_dir`, or a scratch folder), and export their URLs for the
    duration of the block."""
    missing = tuple(name for name in names if not named_url(name))
    if not missing:
        yield None
        return
    services = EmbeddedServices(names=missing, state_dir=state_dir, durable=durable)
    try:
        services.start()
        os.environ.update(services.env())
        forget_devstack_env(missing)
        yield services
    finally:
        services.stop()
        for name in missing:
            os.environ.pop(ENV_VARS[name], None)


def run_again_with_embedded(
    names: tuple[str, ...] = SERVICES,
    *,
    state_dir: Path | None = None,
    report: Callable[[str], None] = print,
) -> int | None:
    """For a management command that needs `names`: None when the environment names them
    all (run here). Otherwise start embedded ones for those it leaves unset, run this same
    command again in a process that sees their URLs (settings are read at start-up), stop
    them, and return its exit code."""
    missing = [name for name in names if not named_url(name)]
    if not missing:
        return None
    where = f", data in {state_dir}" if state_dir else ""
    report(f"starting embedded {', '.join(missing)} for the run{where}")
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
    with services_for_unset_env(names, state_dir=state_dir, durable=True):
        started = {ENV_VARS[name]: os.environ[ENV_VARS[name]] for name in missing}
        env = {**os.environ, STARTED_FOR_RUN_ENV: json.dumps(started)}
        return subprocess.call([sys.executable, *sys.argv], env=env)
