"""`.devstack/env`: where `make run`'s stack listens, written by `make run` before it starts.

honcho hands the file to every process of Procfile.dev, and manage.py reads it in a checkout
whenever the environment names no DJANGO_SECRET_KEY, DATABASE_URL, REDIS_URL or
KAFKA_BOOTSTRAP_SERVERS of its own, so that `make manage ARGS="changepassword admin"` (or
`.venv/bin/python manage.py ...`) in another terminal finds the stack by itself.

    python -m devtools.devstack.env --web-port 8000
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from devtools.embedded.addresses import ENV_VARS, SERVICES, service_url
from devtools.embedded.serve import STATE_DIR, serve_port

ENV_FILE = STATE_DIR / "env"
WEB_URL_VAR = "DEVSTACK_WEB_URL"
# Honcho gives each Procfile.dev line after the first the base port + 100 more than the
# line before: `streams`, the second, listens on the web's port + 100.
STREAMS_PORT_OFFSET = 100
# Settings that, when the shell that started `make run` set them, manage.py should see too.
PASSED_THROUGH = ("KAFKA_TOPIC", "KAFKA_CONSUMER_GROUP")


def devstack_env(*, web_port: int, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The settings of a `make run` whose web listens on `web_port`: the URLs the
    environment names, else the embedded services' on their `make run` ports."""
    values = {"DJANGO_DEBUG": "1", "DEVSTACK_DIR": str(STATE_DIR)}
    for name in SERVICES:
        values[ENV_VARS[name]] = environ.get(ENV_VARS[name]) or service_url(
            name, serve_port(name, environ)
        )
    values.update({name: environ[name] for name in PASSED_THROUGH if environ.get(name)})
    values[WEB_URL_VAR] = f"http://127.0.0.1:{web_port}"
    # The pages open their streams there (another origin: the pages' CSP and the stream
    # server's CORS allow it).
    values["STREAM_PUBLIC_URL"] = f"http://127.0.0.1:{web_port + STREAMS_PORT_OFFSET}"
    return values


def env_file_write(values: Mapping[str, str], path: Path = ENV_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Written by `make run` (devtools/devstack/env.py). manage.py reads it in this",
        "# checkout when the environment names no DATABASE_URL etc. of its own.",
        *(f"{name}={value}" for name, value in values.items()),
    ]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.devstack.env", description=__doc__)
    parser.add_argument("--web-port", type=int, required=True)
    args = parser.parse_args(argv)
    env_file_write(devstack_env(web_port=args.web_port))


if __name__ == "__main__":
    main()
