"""`manage.py bench_reads`: the read endpoints under wrk, against /healthz and raw Redis.

With no DATABASE_URL / REDIS_URL in the environment it starts an embedded PostgreSQL and
Valkey whose data stays in `.devstack/bench-reads/`, so a second run reuses the
1,000,000-player board; with them set it refuses to load into the services they name
unless given --i-know-this-is-not-production (devtools/guard.py). Needs wrk
(`apt-get install wrk`); redis-benchmark (redis-tools) when installed. The
last line is the headline: top100, rank and around as a share of /healthz. The logic lives
in devtools/bench_reads/.
"""

import argparse
import os
import shutil
import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from devtools import embedded
from devtools.bench_reads import ENDPOINT_NAMES, HEALTHZ, BenchFailed, run_benchmark
from devtools.bench_reads.timing import WARM_UP_SECONDS
from devtools.guard import add_not_production_flag, refuse_services_not_started_here
from devtools.web_server import WebServerFailed

STATE_DIR = embedded.STATE_DIR / "bench-reads"
SERVICES = ("postgres", "valkey")


def _endpoint_names(value: str) -> set[str]:
    """`--only top100,deep-page`: names as the output prints them, - or _ for a space."""
    names = {name.strip().replace("-", " ").replace("_", " ") for name in value.split(",")}
    unknown = names - set(ENDPOINT_NAMES) - {""}
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown endpoint(s) {', '.join(sorted(unknown))}; expected some of"
            f" {', '.join(name.replace(' ', '-') for name in ENDPOINT_NAMES)}"
        )
    return names - {""}


class Command(BaseCommand):
    help = "Measure the read endpoints' throughput and latency against /healthz and raw Redis."

    def add_arguments(self, parser):
        parser.add_argument("--players", type=int, default=1_000_000)
        parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
        parser.add_argument("--connections", type=int, default=16, help="wrk's -c")
        parser.add_argument("--wrk-threads", type=int, default=2, help="wrk's -t")
        parser.add_argument(
            "--warm-up",
            type=int,
            default=WARM_UP_SECONDS,
            help="seconds of wrk on each endpoint before it is measured (0: none)",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=2 * (os.cpu_count() or 1) + 1,
            help="gunicorn's --workers (default: 2 per core + 1, gunicorn's advice)",
        )
        parser.add_argument("--worker-class", default="sync", help="gunicorn's --worker-class")
        parser.add_argument("--threads", type=int, default=1, help="gunicorn's --threads")
        parser.add_argument(
            "--only",
            type=_endpoint_names,
            help=f"comma-separated endpoints ({HEALTHZ} is always measured):"
            f" {', '.join(name.replace(' ', '-') for name in ENDPOINT_NAMES)}",
        )
        add_not_production_flag(parser)

    def handle(self, *args, **options):
        refuse_services_not_started_here(SERVICES, not_production=options["not_production"])
        if shutil.which("wrk") is None:
            raise CommandError("wrk is not installed: apt-get install wrk")
        if options["connections"] < options["wrk_threads"]:
            raise CommandError("--connections must be at least --wrk-threads (wrk's rule)")
        code = embedded.run_again_with_embedded(
            SERVICES, state_dir=STATE_DIR, report=self.stdout.write
        )
        if code is not None:
            sys.exit(code)
        call_command("migrate", verbosity=0)
        try:
            line = run_benchmark(
                players=options["players"],
                seconds=options["duration"],
                connections=options["connections"],
                wrk_threads=options["wrk_threads"],
                warm_up=options["warm_up"],
                workers=options["workers"],
                worker_class=options["worker_class"],
                threads=options["threads"],
                only=options["only"],
                log=STATE_DIR / "web.log",
                report=lambda text: self.stdout.write(text),
            )
        except (BenchFailed, WebServerFailed) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(line)
