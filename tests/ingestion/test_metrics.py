"""Prometheus metrics: the consumer's counters and histograms move by what it consumed,
its own /metrics endpoint serves them, the board cache counts hits, misses, rebuilds and
fallbacks, and the Grafana dashboard asks only for metrics that exist."""

from __future__ import annotations

import json
import logging
import re
import socket
import subprocess
import time
import urllib.request
from datetime import UTC, datetime

import pytest
from django_prometheus.middleware import Metrics
from prometheus_client import REGISTRY, CollectorRegistry, Histogram
from prometheus_client.metrics import MetricWrapperBase

import ingestion.metrics
import leaderboards.cache.store
import leaderboards.cache.sync
import leaderboards.metrics
from config.logging import ContextFilter
from devtools.embedded import free_port
from ingestion.consumer import BatchResult, ScoreConsumer
from ingestion.events import Reason
from ingestion.metrics import REJECTION_REASONS, BatchHistogram
from leaderboards.cache.store import redis_breaker_reset, reset_store
from leaderboards.selectors import board_entries
from tests.factories import BoardFactory
from tests.ingestion.kafka_helpers import (
    BASE_DIR,
    consume_until_idle,
    consumer_process,
    produce,
    score_events,
    stop,
    wait_for,
)

GRAFANA_DASHBOARD = BASE_DIR / "deploy" / "grafana" / "leaderboards.json"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Snapshot:
    """Sample values now, to compare with later ones."""

    def __init__(self, *names: tuple[str, dict]) -> None:
        self.before = {
            (name, tuple(labels.items())): sample(name, **labels) for name, labels in names
        }

    def moved(self, name: str, **labels: str) -> float:
        return sample(name, **labels) - self.before[(name, tuple(labels.items()))]


CONSUMER_SAMPLES = [
    ("leaderboards_events_consumed_total", {}),
    ("leaderboards_events_accepted_total", {}),
    ("leaderboards_events_duplicate_total", {}),
    *(("leaderboards_events_rejected_total", {"reason": r}) for r in REJECTION_REASONS),
    ("leaderboards_consumer_batch_size_count", {}),
    ("leaderboards_consumer_batch_size_sum", {}),
    *(
        ("leaderboards_consumer_batch_seconds_count", {"stage": s})
        for s in ("decode", "store", "redis", "commit", "total")
    ),
    ("leaderboards_redis_apply_seconds_count", {}),
    ("leaderboards_redis_board_applies_total", {"outcome": "applied"}),
    ("leaderboards_event_freshness_seconds_count", {}),
    ("leaderboards_event_freshness_seconds_bucket", {"le": "60.0"}),
]


@pytest.mark.django_db(transaction=True)
def test_consumer_counts_consumed_accepted_duplicate_and_rejected_events(topic, store):
    board = BoardFactory()
    board_entries(board, offset=0, limit=10)  # cached: every batch is applied to it
    events = [(k, v) for k, v, _, _ in score_events(200, players=20, start=datetime.now(UTC))]
    bad = [
        (b"p1", b"{not json"),
        (b"p1", b'{"player_id": "p1"}'),
        (b"p1", b'{"player_id": "p1", "delta": 1, "created_at": "2999-01-01T00:00:00Z"}'),
        (b"p1", None),
    ]
    snapshot = Snapshot(*CONSUMER_SAMPLES)
    produce([*events, *bad, *events[:50]], topic)  # a producer resent 50 of them

    results = consume_until_idle(topic)

    batches = len(results)
    assert snapshot.moved("leaderboards_events_consumed_total") == 254
    assert snapshot.moved("leaderboards_events_accepted_total") == 200
    assert snapshot.moved("leaderboards_events_duplicate_total") == 50
    rejected = {
        reason: snapshot.moved("leaderboards_events_rejected_total", reason=reason)
        for reason in REJECTION_REASONS
    }
    assert {reason: n for reason, n in rejected.items() if n} == {
        Reason.MALFORMED_JSON: 1,
        Reason.MISSING_FIELD: 1,
        Reason.FUTURE_TIMESTAMP: 1,
        Reason.EMPTY_MESSAGE: 1,
    }
    assert snapshot.moved("leaderboards_consumer_batch_size_count") == batches
    assert snapshot.moved("leaderboards_consumer_batch_size_sum") == 254
    for stage in ("decode", "store", "redis", "commit", "total"):
        assert snapshot.moved("leaderboards_consumer_batch_seconds_count", stage=stage) == batches
    assert snapshot.moved("leaderboards_redis_apply_seconds_count") == batches
    assert snapshot.moved("leaderboards_redis_board_applies_total", outcome="applied") == batches
    # One freshness observation per accepted event, all of them well under a minute old.
    assert snapshot.moved("leaderboards_event_freshness_seconds_count") == 200
    assert snapshot.moved("leaderboards_event_freshness_seconds_bucket", le="60.0") == 200


@pytest.mark.django_db(transaction=True)
def test_lag_per_partition_is_reported_while_behind_and_dropped_on_revoke(topic):
    produce(((k, v) for k, v, _, _ in score_events(400, players=40)), topic)
    seen: list[float] = []

    def lag_now(result: BatchResult) -> None:
        seen.append(
            sum(
                sample("leaderboards_consumer_lag", topic=topic, partition=str(p)) for p in range(6)
            )
        )
        time.sleep(0.1)  # slow batches, so the once-a-second report catches it behind

    consumer = ScoreConsumer(topic=topic, batch_size=20, batch_timeout=0.5, on_batch=lag_now)
    consumer.run(max_idle_seconds=2)

    assert max(seen) > 0
    assert all(0 <= lag <= 400 for lag in seen)
    assert not [
        metric
        for metric in REGISTRY.collect()
        if metric.name == "leaderboards_consumer_lag"
        for s in metric.samples
        if s.labels["topic"] == topic
    ]


@pytest.fixture
def consumer_log_records():
    """Records of the consumer's logger, at DEBUG, with the log context put on them as the
    configured handlers do."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.addFilter(ContextFilter())
    handler.emit = records.append
    logger = logging.getLogger("ingestion.consumer")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.mark.django_db(transaction=True)
def test_every_batch_logs_under_a_batch_id_of_its_own(topic, consumer_log_records):
    produce(((k, v) for k, v, _, _ in score_events(100, players=10)), topic)
    consumer = ScoreConsumer(topic=topic, batch_size=30, batch_timeout=0.5)

    consumer.run(max_idle_seconds=2)

    batch_lines = [r for r in consumer_log_records if r.getMessage().startswith("batch:")]
    assert len(batch_lines) == consumer.batches >= 4
    assert [r.batch_id for r in batch_lines] == [
        f"{consumer.tag}-{n}" for n in range(1, consumer.batches + 1)
    ]
    assert re.fullmatch(r"[0-9a-f]{6}", consumer.tag)
    outside = [r for r in consumer_log_records if not r.getMessage().startswith("batch:")]
    assert outside  # assignment, leaving the group: no batch of their own
    assert not [r for r in outside if hasattr(r, "batch_id")]


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


@pytest.mark.django_db(transaction=True)
def test_consumer_serves_its_metrics_on_the_metrics_port(topic):
    port = free_port()
    process = consumer_process(
        topic,
        f"metrics-{topic}",
        "--metrics-port",
        str(port),
        env={"CONSUMER_METRICS_PORT": "0"},  # --metrics-port must win over the setting
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        produce(((k, v) for k, v, _, _ in score_events(30, players=5)), topic)
        produce([(b"p1", b"{not json")], topic)

        def has_lag(text: str) -> bool:
            return any(
                line.startswith("leaderboards_consumer_lag{") and f'topic="{topic}"' in line
                for line in text.splitlines()
            )

        def consumed_all() -> bool:
            try:
                text = _scrape(port)
            except OSError:  # not serving yet
                return False
            return "leaderboards_events_consumed_total 31.0" in text and has_lag(text)

        wait_for(consumed_all, timeout=90, message="the consumer's /metrics to count 31 and lag")
        text = _scrape(port)
    finally:
        assert stop(process) == 0
    logs = process.stderr.read()

    assert "leaderboards_events_accepted_total 30.0" in text
    assert 'leaderboards_events_rejected_total{reason="malformed_json"} 1.0' in text
    assert "leaderboards_event_freshness_seconds_bucket" in text
    assert f"serving metrics at http://0.0.0.0:{port}/metrics" in logs


def _two_free_ports() -> int:
    """A port p with p + 1 free too."""
    while True:
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port + 1))
            except OSError:
                continue
        return port


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_consumers_on_one_host_each_take_a_port_of_the_range(topic):
    port = _two_free_ports()
    processes = [
        consumer_process(
            topic, f"ports-{topic}", "--metrics-port", f"{port}-{port + 1}", stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    try:

        def both_serve() -> bool:
            try:
                return all(
                    "leaderboards_events_consumed_total" in _scrape(p) for p in (port, port + 1)
                )
            except OSError:  # not serving yet
                return False

        wait_for(both_serve, timeout=90, message="two consumers serving metrics side by side")
    finally:
        for process in processes:
            assert stop(process) == 0
    logs = "".join(process.stderr.read().decode() for process in processes)

    assert f"serving metrics at http://0.0.0.0:{port}/metrics" in logs
    assert f"serving metrics at http://0.0.0.0:{port + 1}/metrics" in logs
    assert "cannot serve metrics" not in logs


@pytest.mark.django_db(transaction=True)  # builds refuse to run inside a transaction
def test_board_reads_count_cache_misses_rebuilds_and_hits(store):
    board = BoardFactory()
    names = [
        ("leaderboards_cache_hits_total", {}),
        ("leaderboards_cache_misses_total", {}),
        ("leaderboards_cache_rebuilds_total", {"outcome": "ready"}),
    ]
    snapshot = Snapshot(*names)

    board_entries(board, offset=0, limit=10)  # not cached: built, then read
    board_entries(board, offset=0, limit=10)
    board_entries(board, offset=10, limit=10)

    assert snapshot.moved("leaderboards_cache_misses_total") == 1
    assert snapshot.moved("leaderboards_cache_rebuilds_total", outcome="ready") == 1
    assert snapshot.moved("leaderboards_cache_hits_total") == 2


@pytest.fixture
def redis_gone(settings):
    redis_breaker_reset()
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    reset_store()
    yield
    reset_store()


@pytest.mark.django_db
def test_reads_without_redis_count_as_fallbacks(redis_gone):
    board = BoardFactory()
    # Saving the board already found Redis gone (the catalog's invalidation); start afresh.
    redis_breaker_reset()
    names = [
        ("leaderboards_cache_fallbacks_total", {"reason": "redis_error"}),
        ("leaderboards_cache_fallbacks_total", {"reason": "redis_backoff"}),
        ("leaderboards_cache_hits_total", {}),
    ]
    snapshot = Snapshot(*names)

    board_entries(board, offset=0, limit=10)  # tries Redis, fails
    board_entries(board, offset=0, limit=10)  # does not try again for a few seconds

    assert snapshot.moved("leaderboards_cache_fallbacks_total", reason="redis_error") == 1
    assert snapshot.moved("leaderboards_cache_fallbacks_total", reason="redis_backoff") == 1
    assert snapshot.moved("leaderboards_cache_hits_total") == 0


def test_the_web_app_serves_the_cache_metrics_at_its_metrics_url(client):
    text = client.get("/metrics").content.decode()

    for name in (
        "leaderboards_cache_hits_total",
        "leaderboards_cache_misses_total",
        "leaderboards_cache_rebuilds_total",
        "leaderboards_cache_fallbacks_total",
    ):
        assert f"# TYPE {name} counter" in text
    assert "django_http_requests_total_by_method_total" in text


SUFFIXES = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}


def _metric_names() -> set[str]:
    """Every series name the registry can expose (with its _total, _bucket, ... suffix),
    labelled ones included before their first sample."""
    Metrics.get_instance()  # django-prometheus registers its metrics on first use
    return {
        metric.name + suffix
        for metric in REGISTRY.collect()
        for suffix in SUFFIXES.get(metric.type, [""])
    }


def _defined_here() -> set[str]:
    """Names of the metrics ingestion/metrics.py and leaderboards/metrics.py define."""
    values = [
        value
        for module in (ingestion.metrics, leaderboards.metrics)
        for value in vars(module).values()
    ]
    return {
        value.describe()[0].name for value in values if isinstance(value, MetricWrapperBase)
    } | {value.name for value in values if isinstance(value, BatchHistogram)}


def test_grafana_dashboard_queries_only_metrics_that_exist():
    dashboard = json.loads(GRAFANA_DASHBOARD.read_text())
    queries = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    used = {
        name
        for query in queries
        for name in re.findall(r"\b((?:leaderboards|django)_[a-z_]+)\b", query)
    }

    assert used
    assert used - _metric_names() == set()
    # ...and every metric defined here has a panel.
    assert {name for name in _defined_here() if not any(u.startswith(name) for u in used)} == set()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == (
        "datasource",
        "prometheus",
    )
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_a_batch_histogram_exposes_what_prometheus_histogram_would():
    """The freshness histogram counts a batch at a time (metrics.BatchHistogram): its
    samples are those of prometheus_client's Histogram fed the same values one by one,
    values on a bucket's bound included."""
    buckets = (0.01, 0.5, 1, 60)
    values = [0.0, 0.01, 0.0100001, 0.3, 0.5, 1, 1.5, 60, 61, 3600.5]
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("fresh", "doc", buckets=buckets, registry=theirs)
    for value in values:
        reference.observe(value)
    batch = BatchHistogram("fresh", "doc", buckets=buckets, registry=ours)
    batch.observe_many(values[:4])
    batch.observe_many(values[4:])

    def samples(registry):
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in registry.collect()
            for sample in family.samples
            if not sample.name.endswith("_created")
        }

    assert samples(ours) == samples(theirs)
