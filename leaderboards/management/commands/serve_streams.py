"""`manage.py serve_streams --bind HOST:PORT`: the stream server, config/asgi.py's `streams`
(the board and player streams, leaderboards/streams/) in one event loop. Scale by running
more processes: each subscribes to Redis once.

Two servers run it: granian (the default), whose socket I/O runs in Rust threads beside
the event loop, and uvicorn (`--server uvicorn`, with httptools and uvloop), whose I/O runs
on the loop itself. `manage.py bench_push` measures both; docs/streams.md says why granian.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

SERVERS = ("granian", "uvicorn")
TARGET = "config.asgi:streams"


def parse_bind(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise CommandError(f"--bind {text!r}: use HOST:PORT")
    return host.strip("[]"), int(port)


def serve_granian(host: str, port: int, *, max_streams: int, log_level: str) -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels

    Granian(
        TARGET,
        address=host,
        port=port,
        # Django's handler speaks HTTP only: no lifespan, no websockets, HTTP/1.1 (SSE).
        interface=Interfaces.ASGINL,
        websockets=False,
        http=HTTPModes.http1,
        workers=1,
        # Granian admits at most `backpressure` requests at once (1,024 by default); a
        # stream is a request that lasts as long as its viewer watches.
        backlog=max(1024, max_streams // 4),
        backpressure=max_streams,
        log_level=LogLevels(log_level),
        log_access=False,
        # A worker that dies is replaced rather than leaving the pod up and serving nothing.
        respawn_failed_workers=True,
        workers_kill_timeout=5,
    ).serve()


def serve_uvicorn(host: str, port: int, *, max_streams: int, log_level: str) -> None:
    import uvicorn

    uvicorn.run(
        TARGET,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        # The client address is worked out by the rate limits (TRUSTED_PROXY_HOPS), as on
        # the web: uvicorn must not rewrite it from X-Forwarded-For itself.
        proxy_headers=False,
        limit_concurrency=max_streams,
        timeout_graceful_shutdown=5,
        lifespan="off",
    )


class Command(BaseCommand):
    help = "Serve the live streams (Server-Sent Events) over ASGI: granian or uvicorn."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8001", help="HOST:PORT")
        parser.add_argument("--server", choices=SERVERS, default=SERVERS[0])
        parser.add_argument(
            "--max-streams",
            type=int,
            default=50_000,
            help="open connections the process accepts at once (each stream is one)",
        )
        parser.add_argument(
            "--log-level", default="warning", help="the server's log level (its access log is off)"
        )

    def handle(self, *args: object, **options: object) -> None:
        host, port = parse_bind(str(options["bind"]))
        serve = serve_granian if options["server"] == "granian" else serve_uvicorn
        self.stdout.write(
            f"serving streams with {options['server']} on http://{host}:{port}"
            " (/api/v1/leaderboards/<slug>/stream/)"
        )
        self.stdout.flush()
        serve(
            host,
            port,
            max_streams=int(options["max_streams"]),  # type: ignore[call-overload]
            log_level=str(options["log_level"]),
        )
