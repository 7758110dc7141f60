"""`manage.py bench_ingest`: events through the broker into the consumer, measured.

With no DATABASE_URL / REDIS_URL / KAFKA_BOOTSTRAP_SERVERS in the environment it starts
embedded services of its own (on free ports, removed afterwards) and runs itself again
against them; with them set it refuses to write to the services they name unless
given --i-know-this-is-not-production (devtools/guard.py).
"""

import argparse
import os
import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from devtools.bench_baseline import BaselineError, command_args, comparison, run_alternating
from devtools.bench_ingest import Profile, run_benchmark
from devtools.embedded import SERVICES, run_again_with_embedded
from devtools.embedded.postgres import EXTRA_SETTINGS_ENV
from devtools.guard import add_not_production_flag, refuse_services_not_started_here


def _counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a count of consumers, or counts: 1,2,3")
    return counts


class Command(BaseCommand):
    help = "Measure ingestion throughput and freshness (produced -> visible in Redis)."

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=1_500_000)
        parser.add_argument("--rate", type=int, default=25_000, help="events per second")
        parser.add_argument("--players", type=int, default=100_000)
        parser.add_argument(
            "--consumers",
            type=_counts,
            default=[1],
            help="consumer processes, or a comma-separated list of counts to measure one "
            "after the other (1,2,3)",
        )
        parser.add_argument("--batch-size", type=int, default=5_000)
        parser.add_argument(
            "--profile",
            action="store_true",
            help="print where PostgreSQL's and Valkey's time went, per event "
            "(pg_stat_statements, preloaded in the embedded PostgreSQL; INFO commandstats)",
        )
        parser.add_argument(
            "--baseline",
            metavar="REF",
            help="measure the commit REF too (a worktree of its own, installed on first use), "
            "alternating with this checkout, and compare (devtools/bench_baseline.py)",
        )
        parser.add_argument(
            "--rounds", type=int, default=2, help="runs of each side with --baseline"
        )
        add_not_production_flag(parser)

    def handle(self, *args, **options):
        if options["baseline"]:
            self._compare(options["baseline"], rounds=options["rounds"])
            return
        refuse_services_not_started_here(SERVICES, not_production=options["not_production"])
        if options["profile"]:
            os.environ[EXTRA_SETTINGS_ENV] = "shared_preload_libraries=pg_stat_statements"
        code = run_again_with_embedded(SERVICES, report=self.stdout.write)
        if code is not None:
            sys.exit(code)
        call_command("migrate", verbosity=0)
        per_minute = {}
        for consumers in options["consumers"]:
            result = run_benchmark(
                events=options["events"],
                rate=options["rate"],
                players=options["players"],
                consumers=consumers,
                batch_size=options["batch_size"],
                report=lambda line: self.stdout.write(line),
                profile=Profile() if options["profile"] else None,
            )
            per_minute[consumers] = result.per_minute
            self.stdout.write(
                f"{result.events:,} events in {result.seconds:.1f} s with {consumers} "
                f"consumer(s); {len(result.freshness_ms)} freshness probes"
            )
            self.stdout.write(
                f"ingest: {result.per_minute:,.0f} events/min, freshness p50 "
                f"{result.percentile(0.5):.0f} ms, p99 {result.percentile(0.99):.0f} ms"
            )
        if len(per_minute) > 1:
            first = next(iter(per_minute.values()))
            self.stdout.write(
                "scaling: "
                + "; ".join(
                    f"{n} consumer(s) {rate:,.0f}/min ({rate / first:.2f}x)"
                    for n, rate in per_minute.items()
                )
            )

    def _compare(self, ref: str, *, rounds: int) -> None:
        if rounds < 1:
            raise CommandError("--rounds must be at least 1")
        try:
            baseline, this = run_alternating(
                ref=ref, args=command_args(), rounds=rounds, report=self.stdout.write
            )
        except BaselineError as exc:
            raise CommandError(str(exc)) from exc
        for line in comparison(baseline, this):
            self.stdout.write(line)
