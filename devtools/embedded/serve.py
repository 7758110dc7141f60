"""`python -m devtools.embedded serve postgres|valkey|kafka`: one service in the foreground on
its `make run` port, for a Procfile.dev line, until SIGTERM or Ctrl-C.

The service's own output goes to `.devstack/<name>.log`, so that `make run`'s terminal shows
one line per service and the summary; the log's last lines are printed if it fails.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path

from devtools.embedded.addresses import DEFAULT_PORTS, SERVICES, port_open, wait_for_port
from devtools.embedded.postgres import ensure_database
from devtools.embedded.processes import stop
from devtools.embedded.services import service_command

BASE_DIR = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("DEVSTACK_DIR", BASE_DIR / ".devstack"))
TAIL_LINES = 20


def serve_port(name: str, environ: Mapping[str, str] = os.environ) -> int:
    """The port `make run` serves `name` on: EMBEDDED_<NAME>_PORT, else the default."""
    return int(environ.get(f"EMBEDDED_{name.upper()}_PORT") or DEFAULT_PORTS[name])


def _log_tail(log: Path) -> str:
    with log.open(errors="replace") as lines:
        return "".join(deque(lines, TAIL_LINES))


def serve(name: str) -> int:
    """Run one service in the foreground on its `make run` port until SIGTERM or SIGINT."""
    port = serve_port(name)
    if port_open(port):
        print(
            f"embedded {name}: port {port} is already taken; is `make run` running elsewhere?"
            f" (another port: EMBEDDED_{name.upper()}_PORT=...)",
            file=sys.stderr,
        )
        return 1
    argv, preexec = service_command(name, STATE_DIR, port, durable=True)
    log_path = STATE_DIR / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, preexec_fn=preexec, start_new_session=True
        )
    stopping = False

    def on_signal(signum, frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        wait_for_port(name, port, process, timeout=60)
        if name == "postgres":
            ensure_database(port)
    except (RuntimeError, TimeoutError) as exc:
        stop(process, name)
        print(f"{exc}; the end of {log_path}:\n{_log_tail(log_path)}", file=sys.stderr)
        return 1
    print(f"embedded {name} ready on 127.0.0.1:{port} (log: {_shown(log_path)})", flush=True)
    while not stopping and process.poll() is None:
        time.sleep(0.2)
    stop(process, name)
    if stopping:
        return 0
    print(
        f"embedded {name} exited with code {process.returncode}; the end of {log_path}:\n"
        f"{_log_tail(log_path)}",
        file=sys.stderr,
    )
    return process.returncode or 1


def _shown(path: Path) -> str:
    """`path` relative to the checkout when it is inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.embedded", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve_parser = sub.add_parser("serve", help="run one embedded service in the foreground")
    serve_parser.add_argument("service", choices=SERVICES)
    args = parser.parse_args(argv)
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    return serve(args.service)
