"""Debian's PgBouncer in front of the suite's PostgreSQL, in transaction pooling mode.

tests/test_pgbouncer.py runs a subset of the suite through it. The pool is small (three
server connections per database, kept open) and handed out round-robin, so consecutive
transactions of one client land on different server sessions and clients share them:
anything that leans on session state (a temporary table, a WITH HOLD cursor, a plain
`SET`, a prepared statement) shows up rather than passing by luck.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from devtools.embedded import free_port

PGBOUNCER = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None
)
USER = "postgres"

_CONFIG = """\
[databases]
; Any database name, so pytest-django's test database is reachable too.
* = host={postgres_host} port={postgres_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {dir}/userlist.txt
admin_users = {user}
pool_mode = transaction
default_pool_size = {pool_size}
min_pool_size = {pool_size}
server_round_robin = 1
max_client_conn = 200
; psycopg sends none of these, but the libpq defaults of other tools might.
ignore_startup_parameters = extra_float_digits,options
"""


@dataclass
class PgBouncer:
    """A pgbouncer process on a free port, pooling the databases of the PostgreSQL at
    `postgres_host`:`postgres_port`."""

    postgres_host: str
    postgres_port: int
    pool_size: int = 3
    port: int = field(default_factory=free_port)
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pgbouncer-")))
    process: subprocess.Popen | None = None

    def start(self, timeout: float = 10) -> PgBouncer:
        if PGBOUNCER is None:
            raise RuntimeError("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
        config = _CONFIG.format(
            postgres_host=self.postgres_host,
            postgres_port=self.postgres_port,
            port=self.port,
            dir=self.dir,
            user=USER,
            pool_size=self.pool_size,
        )
        (self.dir / "pgbouncer.ini").write_text(config)
        (self.dir / "userlist.txt").write_text(f'"{USER}" ""\n')
        argv = [PGBOUNCER, str(self.dir / "pgbouncer.ini")]
        if os.geteuid() == 0:  # it refuses to run as root
            self.dir.chmod(0o755)
            argv[1:1] = ["-u", "nobody"]
        with open(self.dir / "pgbouncer.log", "ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.admin("SHOW VERSION")
                return self
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"pgbouncer did not start:\n{self.log()}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # immediate shutdown (SIGINT waits)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def url(self, database: str) -> str:
        return f"postgres://{USER}@127.0.0.1:{self.port}/{database}"

    def admin(self, command: str) -> list[dict]:
        """A command on pgbouncer's admin console (SHOW STATS, SHOW SERVERS, ...), as rows."""
        with psycopg.connect(self.url("pgbouncer"), autocommit=True, connect_timeout=2) as conn:
            cursor = conn.execute(command)
            if cursor.description is None:
                return []
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def log(self) -> str:
        path = self.dir / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""
