"""The read benchmark behind `manage.py bench_reads`.

Loads an all-time board of 1,000,000 players (one delta each, stamped 2026-01-02, scores
0..50,000 skewed towards the bottom so most of the board is ties), or reuses it when a
previous run left exactly that many there, and a daily series whose current board gets
20,000 fresh deltas on every run. Rolls them up, times the cold Redis build of the big
board, then starts the web app as production runs it (gunicorn, JSON logs, DEBUG off) and
drives each read endpoint with wrk. `/healthz`, the cost of the framework alone, is
measured first and last; the mean of the two is the floor every endpoint is compared with.
Raw Redis (`ZREVRANGE` of 100 with scores on the same sorted set) is timed in the same run
for the other end of the scale.
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from devtools.bench_reads.data import (
    SERIES_SLUG,
    add_fresh_deltas,
    advance_rollups,
    build_boards,
    ensure_boards,
    ensure_data,
    mid_board_player,
)
from devtools.bench_reads.endpoints import HEALTHZ, Endpoint, check_ok, cold_read, endpoints
from devtools.bench_reads.errors import BenchFailed
from devtools.bench_reads.timing import WARM_UP_SECONDS, Load, run_wrk, time_redis
from devtools.bench_standings import GRAINS, vacuum
from devtools.web_server import web_server

HEADLINE = ("top100", "rank", "around")


def _line(name: str, load: Load, floor: float, *, decimals: int = 1) -> str:
    return (
        f"{name:<20}{load.requests_per_second:>8,.0f} req/s"
        f"  p50 {load.p50_ms:5.{decimals}f} ms  p99 {load.p99_ms:5.{decimals}f} ms"
        f"  {100 * load.requests_per_second / floor:4.0f}% of healthz"
    )


def headline(loads: dict[str, Load], floor: float) -> str:
    """The last line: top100, rank and around against the floor."""

    def part(name: str, *, first: bool = False) -> str:
        if name not in loads:
            return f"{name} not measured"
        load = loads[name]
        share = f"{100 * load.requests_per_second / floor:.0f}%"
        if not first:
            return f"{name} {load.requests_per_second:,.0f} req/s ({share})"
        return (
            f"{name} {load.requests_per_second:,.0f} req/s ({share} of healthz),"
            f" p99 {load.p99_ms:.1f} ms"
        )

    first, *rest = HEADLINE
    return "reads: " + "; ".join([part(first, first=True), *(part(name) for name in rest)])


def measure(
    base: str,
    chosen: list[Endpoint],
    *,
    seconds: int,
    connections: int,
    wrk_threads: int,
    warm_up: int,
    report: Callable[[str], None],
) -> tuple[dict[str, Load], float]:
    """Every chosen endpoint under wrk, /healthz first and last. Returns the loads (the
    healthz runs as `healthz first` and `healthz last`) and the floor, their mean."""
    healthz = next(e for e in chosen if e.name == HEALTHZ)
    order = [healthz, *(e for e in chosen if e.name != HEALTHZ), healthz]
    loads: dict[str, Load] = {}
    for i, endpoint in enumerate(order):
        check_ok(base, endpoint)
        load = run_wrk(
            base,
            endpoint,
            seconds=seconds,
            connections=connections,
            threads=wrk_threads,
            warm_up=warm_up,
        )
        name = endpoint.name
        if name == HEALTHZ:
            name = f"{HEALTHZ} {'first' if i == 0 else 'last'}"
        loads[name] = load
        report(f"measured {name}: {load.requests_per_second:,.0f} req/s, p99 {load.p99_ms:.1f} ms")
    floor = statistics.mean(
        loads[f"{HEALTHZ} {when}"].requests_per_second for when in ("first", "last")
    )
    return loads, floor


def run_benchmark(
    *,
    players: int,
    seconds: int,
    connections: int,
    wrk_threads: int,
    warm_up: int = WARM_UP_SECONDS,
    workers: int,
    worker_class: str,
    threads: int,
    only: set[str] | None,
    log: Path,
    report: Callable[[str], None],
) -> str:
    """Load or reuse the data, build the boards in Redis, measure the endpoints (all, or
    those in `only`, /healthz always) through gunicorn and raw Redis, report a line each;
    returns the headline."""
    if shutil.which("wrk") is None:
        raise BenchFailed("wrk is not installed: apt-get install wrk")
    loaded = ensure_data(players=players, report=report)
    board, series = ensure_boards()
    inserted_at = time.monotonic()
    fresh = add_fresh_deltas(players=players)
    report(f"added {fresh:,} deltas stamped now (series {SERIES_SLUG!r})")
    advance_rollups(since=inserted_at, report=report)
    if loaded:
        vacuum(*(f"leaderboards_{grain}rollup" for grain in GRAINS))
    build_boards(board, series, report=report)
    chosen = [
        e
        for e in endpoints(players=players, mid_player=mid_board_player(board))
        if only is None or e.name in only or e.name == HEALTHZ
    ]
    report(
        f"gunicorn: {workers} {worker_class} worker(s), {threads} thread(s) each;"
        f" wrk: {wrk_threads} threads, {connections} connections, {seconds} s per endpoint;"
        f" web log in {log}"
    )
    with web_server(workers=workers, worker_class=worker_class, threads=threads, log=log) as base:
        loads, floor = measure(
            base,
            chosen,
            seconds=seconds,
            connections=connections,
            wrk_threads=wrk_threads,
            warm_up=warm_up,
            report=report,
        )
        report(cold_read(base, board))
    report(f"healthz floor: {floor:,.0f} req/s (mean of the first and last run)")
    for name, load in loads.items():
        report(_line(name, load, floor))
    load, how = time_redis(board, seconds=seconds, connections=connections)
    report(f"{_line('redis ZREVRANGE', load, floor, decimals=2)}  (0 99 WITHSCORES; {how})")
    return headline(loads, floor)
