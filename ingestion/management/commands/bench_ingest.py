"""`manage.py bench_ingest`: events through the broker into the consumer, measured.

With no DATABASE_URL / REDIS_URL / KAFKA_BOOTSTRAP_SERVERS in the environment it starts
embedded services of its own (on free ports, removed afterwards) and runs itself again
against them; with them set it measures the services they name.
"""

import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand

from config.embedded import run_again_with_embedded
from ingestion.bench import run_benchmark


class Command(BaseCommand):
    help = "Measure ingestion throughput and freshness (produced -> visible in Redis)."

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=1_500_000)
        parser.add_argument("--rate", type=int, default=25_000, help="events per second")
        parser.add_argument("--players", type=int, default=100_000)
        parser.add_argument("--consumers", type=int, default=1)
        parser.add_argument("--batch-size", type=int, default=5_000)

    def handle(self, *args, **options):
        code = run_again_with_embedded(report=self.stdout.write)
        if code is not None:
            sys.exit(code)
        call_command("migrate", verbosity=0)
        result = run_benchmark(
            events=options["events"],
            rate=options["rate"],
            players=options["players"],
            consumers=options["consumers"],
            batch_size=options["batch_size"],
            report=lambda line: self.stdout.write(line),
        )
        self.stdout.write(
            f"{result.events:,} events in {result.seconds:.1f} s with {options['consumers']} "
            f"consumer(s); {len(result.freshness_ms)} freshness probes"
        )
        self.stdout.write(
            f"ingest: {result.per_minute:,.0f} events/min, "
            f"freshness p50 {result.percentile(0.5):.0f} ms, p99 {result.percentile(0.99):.0f} ms"
        )
