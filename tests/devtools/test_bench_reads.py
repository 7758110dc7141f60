"""`manage.py bench_reads` on a tiny board: it loads it, builds it in Redis, serves it
through gunicorn on the test database and measures every endpoint with wrk."""

from __future__ import annotations

import io
import re
import shutil

import pytest
from django.core.management import call_command

from devtools.bench_reads import ENDPOINT_NAMES, HEALTHZ
from devtools.management.commands import bench_reads

HEADLINE = re.compile(
    r"reads: top100 [\d,]+ req/s \(\d+% of healthz\), p99 \d+\.\d ms;"
    r" rank [\d,]+ req/s \(\d+%\); around [\d,]+ req/s \(\d+%\)"
)


def requests_per_second(lines: list[str], name: str) -> float:
    """The req/s of the endpoint's result line (`<name>  1,234 req/s  p50 ...`)."""
    pattern = re.compile(rf"{re.escape(name)} +([\d,]+) req/s  p50 .* of healthz(  \(.*\))?")
    rates = [float(m.group(1).replace(",", "")) for m in map(pattern.fullmatch, lines) if m]
    assert len(rates) == 1, f"no single result line for {name!r}"
    return rates[0]


# Not in a test transaction: the benchmark VACUUMs, its rollups need the load committed, and
# the web server reads the board from its own connections. It runs each of 11 endpoints
# for 1 s after 1 s of warm-up, behind a 6 s wait for the rollups' safety margin.
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk: apt-get install wrk")
@pytest.mark.django_db(transaction=True)
def test_the_read_benchmark_measures_every_endpoint_and_ends_with_the_headline(
    redis_client, tmp_path, monkeypatch
):
    monkeypatch.setattr(bench_reads, "STATE_DIR", tmp_path)  # the web log goes there
    out = io.StringIO()

    # The web server gets the database of this process, the test one: a board it could not
    # find would fail the run (every endpoint is checked for a 200 first). No warm-up and
    # two web workers: what is checked here is that the run works, not its figures.
    call_command(
        "bench_reads",
        *("--players", "2000", "--duration", "1", "--warm-up", "0", "--workers", "2"),
        "--i-know-this-is-not-production",
        stdout=out,
    )

    lines = out.getvalue().splitlines()
    assert lines[0] == "loading 2,000 players, one delta each (scores 0..50,000, skewed)"
    assert any(re.fullmatch(r"cold build: 2,000 players in [\d,]+ ms", line) for line in lines)
    for name in ENDPOINT_NAMES:
        if name == HEALTHZ:
            assert requests_per_second(lines, "healthz first") > 0
            assert requests_per_second(lines, "healthz last") > 0
        else:
            assert requests_per_second(lines, name) > 0
    assert requests_per_second(lines, "redis ZREVRANGE") > 0
    assert (tmp_path / "web.log").read_text()  # gunicorn and the app logged there
    assert HEADLINE.fullmatch(lines[-1]), lines[-1]
