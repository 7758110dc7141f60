"""`manage.py bench_push` with a few subscribers: it feeds a board through the real consumer,
holds the subscribers on each stream server, and prints each server's figures and, last,
the headline."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from devtools.bench_push import run
from devtools.management.commands import bench_push

HEADLINE = re.compile(
    r"push: 20 subscribers, lag p50 \d+ ms, p99 \d+ ms, -?\d+\.\d KiB per subscriber"
)
LAGS = re.compile(
    r"(?P<server>granian|uvicorn): lag p50 (?P<p50>\d+) ms, p99 (?P<p99>\d+) ms,"
    r" max (?P<max>\d+) ms; -?[\d.]+ KiB per subscriber \(RSS \d+ -> \d+ MiB\);"
    r" CPU: server \d+% of a core, subscribers \d+%"
)


# Not in a test transaction: the consumer and the stream servers are processes of their own
# that read the board from the test database.
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_push_benchmark_measures_both_servers_and_ends_with_the_headline(
    redis_client, tmp_path, monkeypatch
):
    monkeypatch.setattr(bench_push, "LOG_DIR", tmp_path)  # the servers' logs go there
    monkeypatch.setattr(run, "SETTLE_SECONDS", 1.0)
    out = io.StringIO()

    call_command(
        "bench_push",
        *("--subscribers", "20", "--duration", "3", "--clients", "1"),
        "--i-know-this-is-not-production",
        stdout=out,
    )

    lines = out.getvalue().splitlines()
    lags = {m["server"]: m for m in map(LAGS.fullmatch, lines) if m}
    assert set(lags) == {"granian", "uvicorn"}, lines
    for found in lags.values():
        assert 0 <= int(found["p50"]) <= int(found["p99"]) <= int(found["max"])
    assert any(re.fullmatch(r"granian: 20 subscribers connected, 0 failed", line) for line in lines)
    assert (tmp_path / "granian.log").exists()
    assert HEADLINE.fullmatch(lines[-1]), lines[-1]
