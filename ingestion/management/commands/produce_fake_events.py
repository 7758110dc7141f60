"""`manage.py produce_fake_events`: send realistic fake score traffic to Kafka."""

import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ingestion.fake import FakeTraffic, TrafficStats


class Command(BaseCommand):
    help = (
        "Send fake score events to Kafka at a steady rate, skewed towards a few very active "
        "players. Runs until Ctrl-C or SIGTERM unless --duration is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rate", type=float, default=200, help="events per second")
        parser.add_argument("--players", type=int, default=10_000, help="player population")
        parser.add_argument(
            "--duration", type=float, default=None, help="seconds to run (default: until stopped)"
        )
        parser.add_argument("--metric", default="score")
        parser.add_argument("--topic", default=None, help="default: KAFKA_TOPIC")
        parser.add_argument("--seed", type=int, default=None, help="for a reproducible stream")

    def handle(self, *args, rate, players, duration, metric, topic, seed, **options):
        if rate <= 0 or players < 1:
            raise CommandError("--rate must be positive and --players at least 1")
        traffic = FakeTraffic(
            rate=rate, players=players, metric=metric, topic=topic, duration=duration, seed=seed
        )
        signal.signal(signal.SIGTERM, traffic.stop)
        signal.signal(signal.SIGINT, traffic.stop)
        tty = self.stdout.isatty()
        self.stdout.write(
            f"Sending ~{rate:g} events/s for {players} players to {traffic.topic} "
            f"on {settings.KAFKA_BOOTSTRAP_SERVERS}"
            + (f" for {duration:g}s" if duration else " until Ctrl-C")
        )
        self.stdout.flush()

        def progress(stats: TrafficStats) -> None:
            # One line rewritten in place on a terminal; a line every few seconds in logs.
            self.stdout.write(("\r" if tty else "") + _describe(stats), ending="" if tty else "\n")
            self.stdout.flush()

        stats = traffic.run(on_progress=progress, progress_every=0.5 if tty else 5.0)
        if tty:
            self.stdout.write("")
        self.stdout.write(f"done: {_describe(stats)}, {stats.undelivered} undelivered")
        if stats.last_error:
            self.stderr.write(f"last delivery error: {stats.last_error}")
        self.stdout.flush()


def _describe(stats: TrafficStats) -> str:
    return (
        f"{stats.sent} events sent in {stats.elapsed:.1f}s ({stats.rate:.0f}/s), "
        f"{stats.errors} delivery errors"
    )
