"""`manage.py bench_ingest` on a small load, end to end through the suite's broker and a real
consumer process; and how `--baseline` reads its arguments and compares two checkouts."""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.management import call_command

from devtools.bench_baseline import Side, comparison, main_args
from leaderboards.models import ScoreDelta


@pytest.mark.django_db(transaction=True)
def test_the_ingest_benchmark_measures_the_producer_then_the_consumer(monkeypatch):
    db = settings.DATABASES["default"]
    credentials = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    # The consumer process it starts reads the environment: point it at the test database.
    monkeypatch.setenv(
        "DATABASE_URL", f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )
    out = io.StringIO()
    call_command(
        "bench_ingest",
        *("--events", "3000", "--rate", "3000", "--players", "50", "--batch-size", "500"),
        "--i-know-this-is-not-production",
        stdout=out,
    )
    lines = out.getvalue().splitlines()

    assert "preparing 3,000 events over 50 players" in lines
    assert any(re.fullmatch(r"producer alone: [\d,]+ events/s", line) for line in lines)
    assert re.fullmatch(r"ingest: [\d,]+ events/min, freshness p50 \d+ ms, p99 \d+ ms", lines[-1])
    probes = int(re.search(r"; (\d+) freshness probes", lines[-2]).group(1))
    assert probes > 0
    # Every event and probe, and the warm-up probe, went the whole way into the log.
    assert ScoreDelta.objects.count() == 3000 + probes + 1


def test_the_baseline_runs_get_every_argument_but_the_baseline_ones():
    argv = ["--baseline", "main", "--events", "10", "--rounds=3", "--rounds", "2", "--profile"]

    assert main_args(argv) == ["--events", "10", "--profile"]


def test_the_comparison_ends_with_the_ratio_of_the_means_per_consumer_count():
    def run(*rates: int) -> list[str]:
        return [f"ingest: {rate:,} events/min, freshness p50 1 ms, p99 2 ms" for rate in rates]

    before = Side("abc123", Path("."), runs=[run(100, 150), run(300, 250)])
    after = Side("this", Path("."), runs=[run(400, 600), run(400, 800)])

    lines = comparison(before, after)

    assert lines[:2] == [f"abc123: {line}" for line in run(100, 150)]
    assert lines[-2].startswith("A/B: this 400 events/min against abc123 200 (2.00x)")
    assert lines[-1].startswith("A/B: this 700 events/min against abc123 200 (3.50x)")
