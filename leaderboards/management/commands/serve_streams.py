"""`manage.py serve_streams --bind HOST:PORT`: the stream server, uvicorn running
config/asgi.py's `streams` (the board and player streams, leaderboards/streams/) in one
process and one event loop. Scale by running more processes: each subscribes to Redis
once."""

from __future__ import annotations

import uvicorn
from django.core.management.base import BaseCommand, CommandError, CommandParser


def parse_bind(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise CommandError(f"--bind {text!r}: use HOST:PORT")
    return host.strip("[]"), int(port)


class Command(BaseCommand):
    help = "Serve the live streams (Server-Sent Events) over ASGI with uvicorn."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8001", help="HOST:PORT")
        parser.add_argument(
            "--log-level", default="warning", help="uvicorn's log level (its access log is off)"
        )

    def handle(self, *args: object, **options: str) -> None:
        host, port = parse_bind(options["bind"])
        uvicorn.run(
            "config.asgi:streams",
            host=host,
            port=port,
            log_level=options["log_level"],
            access_log=False,
            # The client address is worked out by the rate limits (TRUSTED_PROXY_HOPS),
            # as on the web: uvicorn must not rewrite it from X-Forwarded-For itself.
            proxy_headers=False,
            # Connections are long-lived; one event loop holds thousands of them.
            timeout_graceful_shutdown=5,
            lifespan="off",
        )
