"""Production's web server for the workbench and the tests of production's config:
`gunicorn config.wsgi:application` with gunicorn.conf.py and production's settings, on a
free port, against this process's database and Redis."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.db import connection

from devtools.embedded import free_port


class WebServerFailed(RuntimeError):
    """gunicorn exited, or did not answer /healthz in time (the message ends with its log)."""


def web_database_url() -> str:
    """The DATABASE_URL of the database this process works on, for the web server: the
    configured one with the name the connection really has (under pytest-django that is
    the test database, test_<name>), credentials and options kept."""
    url = urlsplit(settings.DATABASE_URL)
    return url._replace(path="/" + quote(connection.settings_dict["NAME"])).geturl()


def web_environment() -> dict[str, str]:
    """Production's settings: DEBUG off, JSON logs, our database and Redis."""
    env = {
        **os.environ,
        "DATABASE_URL": web_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "bench-reads-not-a-secret",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_FORMAT": "json",
        # wrk sends everything from one address: a read limit no run reaches keeps the
        # limiter's cost in the figures and refuses none. From one address that is a lease
        # now and then; "top100 new clients" pays its worst case, a call a request.
        "THROTTLE_READ_RATE": "1000000000/second",
        "TRUSTED_PROXY_HOPS": "1",
        # Plain HTTP on the loopback, as behind a TLS-terminating proxy.
        "DJANGO_SECURE_SSL_REDIRECT": "0",
    }
    env.pop("DJANGO_DEBUG", None)
    return env


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _wait_healthy(base: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise WebServerFailed(f"gunicorn exited with code {process.returncode}:\n{_tail(log)}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(base + "/healthz", timeout=2) as response,
        ):
            if response.status == 200:
                return
        if time.monotonic() > deadline:
            raise WebServerFailed(f"/healthz did not answer within {timeout:.0f} s:\n{_tail(log)}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM (gunicorn's graceful stop), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def web_server(
    *, workers: int, worker_class: str, threads: int, log: Path, env: dict[str, str] | None = None
) -> Iterator[str]:
    """`gunicorn config.wsgi:application` on a free port, its output (production's logs,
    part of what a request costs) into `log`, with `env` over web_environment()'s; yields
    its base URL once /healthz answers, and stops it on the way out, whatever happened."""
    port = free_port()
    argv = [
        sys.executable, "-m", "gunicorn", "config.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--worker-class", worker_class,
        "--threads", str(threads),
        # Off the request path; shared by default (~/.gunicorn), so two runs would clash.
        "--no-control-socket",
    ]  # fmt: skip
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        process = subprocess.Popen(
            argv,
            cwd=settings.BASE_DIR,
            env={**web_environment(), **(env or {})},
            stdout=output,
            stderr=output,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, process, log)
        yield base
    finally:
        _stop(process)
