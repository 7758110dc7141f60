"""`manage.py bench_standings` on a small load: it runs end to end, checks every window and
aggregation against the raw computation, and reuses what it loaded."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from devtools.bench_standings import windows


def bench(*args: str) -> list[str]:
    out = io.StringIO()
    # The suite's database is not production, and was not started by the benchmark.
    call_command("bench_standings", *args, "--i-know-this-is-not-production", stdout=out)
    return out.getvalue().splitlines()


# Not in a test transaction: the benchmark VACUUMs, and its rollups need the load committed.
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_standings_benchmark_checks_every_window_and_ends_with_the_headline():
    small = ("--deltas", "20000", "--players", "500", "--repeat", "1")

    first = bench(*small)

    assert "loading 20,000 deltas for 500 players" in first[0]
    # Every window and aggregation was timed, after a check against the raw GROUP BY that
    # raises on a difference.
    timed = re.compile(r"(UTC|Berlin|rolling) week, \w+ \((asc|desc)\).*: rollup \d+ ms, raw ")
    assert sum(bool(timed.match(line)) for line in first) == 3 * 4
    assert first[-1].startswith("standings: rollup ")
    assert first[-1].endswith(" x")
    assert windows()["UTC week"].starts_at.weekday() == 0  # a whole ISO week

    again = bench(*small)

    assert again[0] == "reusing the 20,000 deltas of metric 'bench-standings'"
    assert again[-1].startswith("standings: rollup ")
