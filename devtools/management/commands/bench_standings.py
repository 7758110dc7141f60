"""`manage.py bench_standings`: a 7-day top-50 from rollups against the raw GROUP BY.

With no DATABASE_URL in the environment it starts an embedded PostgreSQL whose data stays
in `.devstack/bench-standings/`, so a second run reuses the 10,000,000 deltas; with it set
it refuses to load into the database it names unless given
--i-know-this-is-not-production (devtools/guard.py). The last line is the headline:
the sum of a UTC week, top 50. The logic lives in devtools/bench_standings.py.
"""

import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand

from devtools import embedded
from devtools.bench_standings import run_benchmark
from devtools.guard import add_not_production_flag, refuse_services_not_started_here

STATE_DIR = embedded.STATE_DIR / "bench-standings"
SERVICES = ("postgres",)


class Command(BaseCommand):
    help = "Time a 7-day standings query from rollups against the raw GROUP BY."

    def add_arguments(self, parser):
        parser.add_argument("--deltas", type=int, default=10_000_000)
        parser.add_argument("--players", type=int, default=100_000)
        parser.add_argument(
            "--repeat", type=int, default=7, help="timed runs of the headline query (others: 3)"
        )
        add_not_production_flag(parser)

    def handle(self, *args, **options):
        refuse_services_not_started_here(SERVICES, not_production=options["not_production"])
        code = embedded.run_again_with_embedded(
            SERVICES, state_dir=STATE_DIR, report=self.stdout.write
        )
        if code is not None:
            sys.exit(code)
        call_command("migrate", verbosity=0)
        timing = run_benchmark(
            deltas=options["deltas"],
            players=options["players"],
            repeat=options["repeat"],
            report=lambda line: self.stdout.write(line),
        )
        self.stdout.write(f"standings: {timing}")
