#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys
from pathlib import Path

# Any of these in the environment means it chose its own settings (production always sets
# them): then .devstack/env is not read.
OWN_SETTINGS = ("DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS")


def load_devstack_env() -> None:
    """In a checkout where `make run` ran, the settings it wrote to .devstack/env (DJANGO_DEBUG
    and where its embedded services listen; devtools/devstack/env.py), so that
    `python manage.py changepassword admin` finds that stack. Only when the environment
    names none of OWN_SETTINGS, and never over a variable it sets; the image ships no
    .devstack/. The names read go to DEVSTACK_ENV_LOADED (benchmarks start services of
    their own rather than load the dev stack)."""
    if any(os.environ.get(name) for name in OWN_SETTINGS):
        return
    state_dir = os.environ.get("DEVSTACK_DIR") or Path(__file__).resolve().parent / ".devstack"
    try:
        lines = (Path(state_dir) / "env").read_text().splitlines()
    except OSError:
        return
    loaded = []
    for line in lines:
        name, equals, value = line.partition("=")
        name = name.strip()
        if equals and name and not name.startswith("#") and name not in os.environ:
            os.environ[name] = value.strip()
            loaded.append(name)
    os.environ["DEVSTACK_ENV_LOADED"] = ",".join(loaded)


def main() -> None:
    load_devstack_env()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
