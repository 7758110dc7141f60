"""`manage.py bench_push`: S subscribers on one stream server process, the board they
follow fed by the consumer at a steady rate; the delivery lag from the Redis apply to each
subscriber's receipt, and the server's memory per subscriber. Measures both servers
`serve_streams` can run, granian (its default) and uvicorn, in the same run.

With no DATABASE_URL / REDIS_URL / KAFKA_BOOTSTRAP_SERVERS in the environment it starts
embedded services of its own (on free ports, removed afterwards) and runs itself again
against them; with them set it refuses to write to the services they name unless given
--i-know-this-is-not-production (devtools/guard.py). The logic lives in
devtools/bench_push/.
"""

from __future__ import annotations

import argparse
import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from devtools import embedded
from devtools.bench_push.errors import BenchFailed
from devtools.bench_push.run import run_benchmark
from devtools.bench_push.servers import SERVERS
from devtools.guard import add_not_production_flag, refuse_services_not_started_here

LOG_DIR = embedded.STATE_DIR / "bench-push"


def _servers(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = set(names) - set(SERVERS)
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: name some of {', '.join(SERVERS)}")
    return names


class Command(BaseCommand):
    help = "Measure the stream server: delivery lag and memory per subscriber."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--subscribers", type=int, default=5_000)
        parser.add_argument(
            "--servers",
            type=_servers,
            default=list(SERVERS),
            help=f"comma-separated, measured in turn: {', '.join(SERVERS)}",
        )
        parser.add_argument(
            "--clients", type=int, default=2, help="subscriber processes (asyncio, raw sockets)"
        )
        parser.add_argument("--duration", type=float, default=30, help="seconds measured")
        parser.add_argument("--rate", type=int, default=200, help="events per second fed")
        parser.add_argument("--limit", type=int, default=10, help="each stream's ?limit=")
        add_not_production_flag(parser)

    def handle(self, *args: object, **options: object) -> None:
        refuse_services_not_started_here(
            embedded.SERVICES, not_production=bool(options["not_production"])
        )
        code = embedded.run_again_with_embedded(embedded.SERVICES, report=self.stdout.write)
        if code is not None:
            sys.exit(code)
        call_command("migrate", verbosity=0)
        try:
            line = run_benchmark(
                subscribers=int(options["subscribers"]),  # type: ignore[call-overload]
                servers=options["servers"],  # type: ignore[arg-type]
                clients=int(options["clients"]),  # type: ignore[call-overload]
                duration=float(options["duration"]),  # type: ignore[arg-type]
                rate=int(options["rate"]),  # type: ignore[call-overload]
                limit=int(options["limit"]),  # type: ignore[call-overload]
                log_dir=LOG_DIR,
                report=lambda text: self.stdout.write(text),
            )
        except BenchFailed as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(line)
