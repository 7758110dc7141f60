"""`manage.py consume_scores`: run the Kafka consumer until SIGTERM or Ctrl-C, serving its
Prometheus metrics on CONSUMER_METRICS_PORT (or --metrics-port): a port, the first free
one of a range ("9110-9119", for several consumers on one host), or 0 for none; at
METRICS_BIND_ADDRESS."""

import argparse
import logging
import time
from wsgiref.simple_server import WSGIServer

from django.conf import settings
from django.core.management.base import BaseCommand

from config.env import parse_ports
from config.metrics import metrics_serve, metrics_url
from ingestion.consumer import BatchResult, ScoreConsumer

logger = logging.getLogger("ingestion.consumer")


class Command(BaseCommand):
    help = "Consume score events from Kafka into PostgreSQL and Redis."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=settings.INGEST_BATCH_SIZE)
        parser.add_argument("--group", default=settings.KAFKA_CONSUMER_GROUP)
        parser.add_argument("--topic", default=settings.KAFKA_TOPIC)
        parser.add_argument(
            "--report-every", type=float, default=10.0, help="seconds between progress lines"
        )
        parser.add_argument(
            "--metrics-port",
            dest="metrics_ports",
            type=_ports,
            default=settings.CONSUMER_METRICS_PORTS,
            help="port of the Prometheus metrics endpoint, or a range to take the first free "
            "one of (9110-9119); 0: none",
        )

    def handle(self, *args, batch_size, group, topic, report_every, metrics_ports, **options):
        if metrics_ports:
            _serve_metrics(metrics_ports)
        progress = _Progress(report_every)
        consumer = ScoreConsumer(
            topic=topic, group=group, batch_size=batch_size, on_batch=progress.add
        )
        consumer.install_signal_handlers()
        logger.info(
            "consuming %s as group %s from %s", topic, group, settings.KAFKA_BOOTSTRAP_SERVERS
        )
        consumer.run()
        progress.report(final=True)


def _ports(text: str) -> range:
    try:
        return parse_ports(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _serve_metrics(ports: range) -> WSGIServer | None:
    """Serve /metrics from a daemon thread, on METRICS_BIND_ADDRESS and the first port of
    `ports` nobody else has. With all of them taken (more consumers on the host than the
    range holds) the consumer runs without metrics rather than not at all."""
    error = None
    for port in ports:
        try:
            server = metrics_serve(port)
        except OSError as exc:
            error = exc
            continue
        logger.info("serving metrics at %s", metrics_url(server))
        return server
    span = f"{ports.start}-{ports.stop - 1}" if len(ports) > 1 else str(ports.start)
    logger.error("cannot serve metrics on port %s, running without: %s", span, error)
    return None


class _Progress:
    """A log line every few seconds: throughput, rejections, duplicates."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.started = self.last = time.monotonic()
        self.window = {"consumed": 0, "accepted": 0, "duplicates": 0, "rejected": 0}
        self.total = dict(self.window)

    def add(self, result: BatchResult) -> None:
        for name in self.window:
            self.window[name] += getattr(result, name)
            self.total[name] += getattr(result, name)
        if time.monotonic() - self.last >= self.every:
            self.report()

    def report(self, final: bool = False) -> None:
        now = time.monotonic()
        counts = self.total if final else self.window
        elapsed = max(now - (self.started if final else self.last), 1e-9)
        logger.info(
            "%s: %d consumed (%.0f/s), %d accepted, %d duplicates, %d rejected",
            "total" if final else "progress",
            counts["consumed"],
            counts["consumed"] / elapsed,
            counts["accepted"],
            counts["duplicates"],
            counts["rejected"],
        )
        self.window = dict.fromkeys(self.window, 0)
        self.last = now
