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

import csv
import json
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import redis
from django.conf import settings
from django.db import connection, transaction

from devtools.bench_standings import GRAINS, vacuum
from devtools.web_server import web_server
from leaderboards.cache.store import BoardKeys, get_store
from leaderboards.cache.sync import cache_build_board, cache_drop_board
from leaderboards.models import Board, Period, Series
from leaderboards.postgres.rollups import SAFETY_MARGIN, rollups_advance
from leaderboards.services import board_create, series_create, series_current_board

METRIC = "bench-reads"
BOARD_SLUG = "bench-reads"
SERIES_SLUG = "bench-reads-daily"
PLAYER_PREFIX = "bench-read-"
BOARD_STARTS_AT = datetime(2026, 1, 1, tzinfo=UTC)
LOADED_AT = datetime(2026, 1, 2, tzinfo=UTC)  # the all-time deltas' created_at
FRESH = 20_000  # deltas stamped now, per run, for the series' current board
BATCH = 250_000  # players (and their deltas) per transaction
MAX_SCORE = 50_000
SCORE_SKEW = 3  # score = MAX_SCORE * u^SCORE_SKEW: most players near the bottom, in ties
RANKS_PLAYERS = 100
WARM_UP_SECONDS = 1
HEALTHZ = "healthz"
HEADLINE = ("top100", "rank", "around")

# A uniform draw in [0, 1) from a hash of the player number: the same board every load.
_PLAYER_DRAW = "((hashint8extended(n, 7) & 4503599627370495)::float8 / 4503599627370496)"
_PLAYERS_SQL = """
INSERT INTO players_player (external_id, display_name)
SELECT %(prefix)s || lpad(n::text, 7, '0'), 'Player ' || n
  FROM generate_series(%(first)s, %(last)s) n
ON CONFLICT (external_id) DO NOTHING
"""
_DELTAS_SQL = f"""
INSERT INTO leaderboards_scoredelta (dedupe_key, player_id, metric, delta, created_at)
SELECT gen_random_uuid(), p.id, %(metric)s,
       floor(({MAX_SCORE} + 1) * power({_PLAYER_DRAW}, {SCORE_SKEW}))::bigint, %(created_at)s
  FROM generate_series(%(first)s, %(last)s) n
  JOIN players_player p ON p.external_id = %(prefix)s || lpad(n::text, 7, '0')
"""
_FRESH_SQL = """
INSERT INTO leaderboards_scoredelta (dedupe_key, player_id, metric, delta, created_at)
SELECT gen_random_uuid(), p.id, %(metric)s, 1 + floor(random() * 50)::bigint,
       date_trunc('milliseconds', now())
  FROM generate_series(1, %(rows)s) n
  JOIN players_player p ON p.external_id = %(prefix)s || lpad(n::text, 7, '0')
"""

_WRK_LATENCY = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


class BenchFailed(RuntimeError):
    """The benchmark cannot give an honest number: an endpoint failed, a tool is missing."""


def player_id(n: int) -> str:
    return f"{PLAYER_PREFIX}{n:07d}"


# -- the data -----------------------------------------------------------------------------


def _loaded_deltas() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM leaderboards_scoredelta WHERE metric = %s AND created_at = %s",
            [METRIC, LOADED_AT],
        )
        return cursor.fetchone()[0]


def _delete_load() -> None:
    """Every delta of the metric and the rollups made of them, together, so the rollups
    never count deltas that are gone."""
    with transaction.atomic(), connection.cursor() as cursor:
        for grain in GRAINS:
            cursor.execute(f"DELETE FROM leaderboards_{grain}rollup WHERE metric = %s", [METRIC])
        cursor.execute("DELETE FROM leaderboards_scoredelta WHERE metric = %s", [METRIC])


def load(*, players: int, report: Callable[[str], None]) -> None:
    """Insert players 1..`players` with display names and one delta each, BATCH per
    transaction."""
    started = time.monotonic()
    for first in range(1, players + 1, BATCH):
        params = {
            "prefix": PLAYER_PREFIX,
            "metric": METRIC,
            "created_at": LOADED_AT,
            "first": first,
            "last": min(first + BATCH - 1, players),
        }
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_PLAYERS_SQL, params)
            cursor.execute(_DELTAS_SQL, params)
        elapsed = time.monotonic() - started
        done = params["last"]
        report(f"loaded {done:,} players in {elapsed:.0f} s ({done / elapsed:,.0f}/s)")


def ensure_data(*, players: int, report: Callable[[str], None]) -> bool:
    """Load the all-time board's deltas unless exactly `players` of them are there. True
    when it loaded them."""
    present = _loaded_deltas()
    if present == players:
        report(f"reusing the {present:,} players of metric {METRIC!r}")
        return False
    if present:
        report(f"found {present:,} players of metric {METRIC!r}, not {players:,}: deleting them")
        _delete_load()
    report(f"loading {players:,} players, one delta each (scores 0..{MAX_SCORE:,}, skewed)")
    load(players=players, report=report)
    started = time.monotonic()
    vacuum("players_player", "leaderboards_scoredelta")
    report(f"VACUUM ANALYZE in {time.monotonic() - started:.0f} s")
    return True


def ensure_boards() -> tuple[Board, Series]:
    """The all-time board and the daily series, created on the first run."""
    board = Board.objects.filter(slug=BOARD_SLUG).first() or board_create(
        slug=BOARD_SLUG,
        name="Bench reads (all time)",
        metric=METRIC,
        starts_at=BOARD_STARTS_AT,
        ends_at=None,
    )
    series = Series.objects.filter(slug=SERIES_SLUG).first() or series_create(
        slug=SERIES_SLUG, name="Bench reads (daily)", period=Period.DAILY, metric=METRIC
    )
    return board, series


def add_fresh_deltas(*, players: int) -> int:
    """A delta stamped now for each of the first FRESH players, so the series' current
    board has entries whatever day it is. Returns how many."""
    rows = min(FRESH, players)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_FRESH_SQL, {"metric": METRIC, "prefix": PLAYER_PREFIX, "rows": rows})
    return rows


def advance_rollups(*, since: float, report: Callable[[str], None]) -> None:
    """Roll up everything, once deltas inserted at monotonic time `since` are rollup
    material (rollups.SAFETY_MARGIN behind now)."""
    time.sleep(max(0.0, SAFETY_MARGIN.total_seconds() + 1 - (time.monotonic() - since)))
    progress = rollups_advance()
    report(
        f"rollups_advance: {progress.hourly_rows:,} hourly, {progress.daily_rows:,} daily and"
        f" {progress.weekly_rows:,} weekly rows merged in {progress.seconds:.1f} s"
    )


def build_boards(board: Board, series: Series, *, report: Callable[[str], None]) -> Board:
    """Time the cold Redis build of the big board; build the series' current board too
    (both forced: deltas written here bypass the consumer that keeps a cached copy up to
    date). Returns the current board."""
    cache_drop_board(board.pk)
    started = time.perf_counter()
    outcome = cache_build_board(board, force=True)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if outcome != "ready":
        raise BenchFailed(f"the cold build of {board.slug!r} ended {outcome!r}, not 'ready'")
    size = _redis().zcard(BoardKeys.of(board.pk).zset)
    report(f"cold build: {size:,} players in {elapsed_ms:,.0f} ms")
    current = series_current_board(series)
    cache_drop_board(current.pk)
    outcome = cache_build_board(current, force=True)
    if outcome != "ready":
        raise BenchFailed(f"the build of {current.slug!r} ended {outcome!r}, not 'ready'")
    return current


def cold_read(base: str, board: Board, *, timeout: float = 120) -> str:
    """Drop the big board from Redis and read it once through the web app: the read is
    answered from PostgreSQL while a worker builds the board in the background. Returns
    the report line: how long that read took, and when the build was ready."""
    cache_drop_board(board.pk)
    # A page size no measured URL used, so no worker has it in its response cache.
    url = f"{base}/api/v1/leaderboards/{board.slug}/entries/?limit=25"
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=timeout) as response:
        status = response.status
    answered_ms = (time.perf_counter() - started) * 1000
    if status != 200:
        raise BenchFailed(f"the cold read of {board.slug!r} answered {status}")
    meta = BoardKeys.of(board.pk).meta
    while _redis().hget(meta, "state") != b"ready":
        if time.perf_counter() - started > timeout:
            raise BenchFailed(f"the background build of {board.slug!r} never became ready")
        time.sleep(0.1)
    ready_s = time.perf_counter() - started
    return (
        f"cold read: answered in {answered_ms:,.0f} ms from PostgreSQL; the background build"
        f" was ready {ready_s:.1f} s later"
    )


def _redis() -> redis.Redis | redis.RedisCluster:
    """The store's client: a cluster's when REDIS_CLUSTER is on."""
    return get_store().redis


def mid_board_player(board: Board) -> str:
    """The player in the middle of the cached board, in board order."""
    client, zset = _redis(), BoardKeys.of(board.pk).zset
    middle = client.zcard(zset) // 2
    return client.zrange(zset, middle, middle)[0].decode()


# -- the endpoints ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    path: str
    body: dict | None = None  # a JSON body: POST
    # Each request from an address of its own (X-Forwarded-For through one trusted hop):
    # the rate limiter's worst case, a Redis call a request.
    new_clients: bool = False

    def request(self, base: str) -> urllib.request.Request:
        if self.body is None:
            return urllib.request.Request(base + self.path)
        return urllib.request.Request(
            base + self.path,
            data=json.dumps(self.body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )


def endpoints(*, players: int, mid_player: str) -> list[Endpoint]:
    """Every read measured, /healthz first (it is measured again last)."""
    board = f"/api/v1/leaderboards/{BOARD_SLUG}"
    week_ago = (datetime.now(UTC) - timedelta(days=7)).replace(microsecond=0)
    friends = sorted(random.Random(0).sample(range(1, players + 1), min(RANKS_PLAYERS, players)))
    standings = urlencode({"metric": METRIC, "from": week_ago.isoformat(), "limit": 100})
    return [
        Endpoint(HEALTHZ, "/healthz"),
        Endpoint("top100", f"{board}/entries/?limit=100"),
        Endpoint("top100 new clients", f"{board}/entries/?limit=100", new_clients=True),
        Endpoint("top10", f"{board}/entries/?limit=10"),
        Endpoint("deep page", f"{board}/entries/?limit=100&offset={players // 2}"),
        Endpoint("rank", f"{board}/players/{quote(mid_player)}/"),
        Endpoint("around", f"{board}/players/{quote(mid_player)}/?around=5"),
        Endpoint("ranks", f"{board}/ranks/", body={"player_ids": [player_id(n) for n in friends]}),
        Endpoint("board", f"{board}/"),
        Endpoint("series current", f"/api/v1/series/{SERIES_SLUG}/current/entries/?limit=100"),
        Endpoint("standings 7d", f"/api/v1/standings/?{standings}"),
    ]


ENDPOINT_NAMES = tuple(e.name for e in endpoints(players=1, mid_player=player_id(1)))


def check_ok(base: str, endpoint: Endpoint) -> None:
    """One request before the load: anything but 200 fails the run, with the body."""
    try:
        with urllib.request.urlopen(endpoint.request(base), timeout=30) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    if status != 200:
        raise BenchFailed(
            f"{endpoint.name}: {endpoint.path} answered {status}, not 200:\n"
            f"{body.decode(errors='replace')[:2000]}"
        )


# -- the web server -----------------------------------------------------------------------


# -- wrk ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Load:
    """One endpoint under load: requests per second and latency percentiles."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float


def parse_wrk(output: str) -> Load:
    """Requests/sec and the --latency 50% and 99% lines; any failed request fails it."""
    problems = [
        line.strip()
        for line in output.splitlines()
        if line.strip().startswith(("Non-2xx or 3xx responses:", "Socket errors:"))
    ]
    if problems:
        raise BenchFailed("; ".join(problems))
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    latencies = {p: float(v) * _TO_MS[unit] for p, v, unit in _WRK_LATENCY.findall(output)}
    if rate is None or set(latencies) != {"50", "99"}:
        raise BenchFailed(f"could not read wrk's output:\n{output}")
    return Load(float(rate.group(1)), latencies["50"], latencies["99"])


# A random public-looking IPv4 address a request, as a proxy would append it.
NEW_CLIENT_LUA = """
request = function()
  wrk.headers["X-Forwarded-For"] = math.random(1, 223) .. "." .. math.random(0, 255)
    .. "." .. math.random(0, 255) .. "." .. math.random(1, 254)
  return wrk.format()
end
"""


def _wrk_script(endpoint: Endpoint, folder: Path) -> Path | None:
    lines = []
    if endpoint.body is not None:
        lines += [
            'wrk.method = "POST"',
            f"wrk.body = [==[{json.dumps(endpoint.body)}]==]",
            'wrk.headers["Content-Type"] = "application/json"',
        ]
    if endpoint.new_clients:
        lines.append(NEW_CLIENT_LUA)
    if not lines:
        return None
    script = folder / "request.lua"
    script.write_text("\n".join(lines) + "\n")
    return script


def run_wrk(base: str, endpoint: Endpoint, *, seconds: int, connections: int, threads: int) -> Load:
    """`wrk --latency` on the endpoint for `seconds`, after WARM_UP_SECONDS of the same."""
    with tempfile.TemporaryDirectory(prefix="bench-reads-") as folder:
        argv = ["wrk", f"-t{threads}", f"-c{connections}", "--latency"]
        script = _wrk_script(endpoint, Path(folder))
        if script is not None:
            argv += ["-s", str(script)]
        url = base + endpoint.path
        subprocess.run([*argv, f"-d{WARM_UP_SECONDS}s", url], capture_output=True, check=True)
        done = subprocess.run(
            [*argv, f"-d{seconds}s", url], capture_output=True, text=True, check=True
        )
    try:
        return parse_wrk(done.stdout)
    except BenchFailed as exc:
        raise BenchFailed(f"{endpoint.name} ({endpoint.path}): {exc}") from None


# -- raw Redis ----------------------------------------------------------------------------


def _redis_benchmark(key: str, *, requests: int, connections: int) -> Load:
    """redis-benchmark sending the command `requests` times over `connections`."""
    url = urlsplit(settings.REDIS_URL)
    argv = ["redis-benchmark", "-h", url.hostname or "127.0.0.1", "-p", str(url.port or 6379)]
    if url.password:
        argv += ["-a", url.password]
    if url.path.strip("/"):
        argv += ["--dbnum", url.path.strip("/")]
    argv += ["-c", str(connections), "-n", str(requests), "--csv"]
    argv += ["ZREVRANGE", key, "0", "99", "WITHSCORES"]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    rows = list(csv.DictReader(done.stdout.splitlines()))
    if not rows:
        raise BenchFailed(f"could not read redis-benchmark's output:\n{done.stdout}")
    row = rows[-1]
    return Load(float(row["rps"]), float(row["p50_latency_ms"]), float(row["p99_latency_ms"]))


def _redis_loop(key: str, *, seconds: int) -> Load:
    """redis-py sending the command over one connection for `seconds`."""
    client = _redis()
    times = []
    begun = time.perf_counter()
    while (started := time.perf_counter()) < begun + seconds:
        client.zrevrange(key, 0, 99, withscores=True)
        times.append((time.perf_counter() - started) * 1000)
    percentiles = statistics.quantiles(times, n=100, method="inclusive")
    return Load(len(times) / (time.perf_counter() - begun), percentiles[49], percentiles[98])


def time_redis(board: Board, *, seconds: int, connections: int) -> tuple[Load, str]:
    """Raw Redis on the board's sorted set, and how it was measured: redis-benchmark for
    about `seconds` when it is installed (and Redis is plain TCP), else a Python loop."""
    key = BoardKeys.of(board.pk).zset
    plain_tcp = urlsplit(settings.REDIS_URL).scheme == "redis" and not settings.REDIS_CLUSTER
    if shutil.which("redis-benchmark") and plain_tcp:
        probe = _redis_benchmark(key, requests=2_000, connections=connections)
        requests = max(2_000, int(probe.requests_per_second * seconds))
        load = _redis_benchmark(key, requests=requests, connections=connections)
        return load, f"redis-benchmark -c {connections} -n {requests:,}"
    return _redis_loop(key, seconds=seconds), "redis-py loop, 1 connection"


# -- the run ------------------------------------------------------------------------------


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
            base, endpoint, seconds=seconds, connections=connections, threads=wrk_threads
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
            report=report,
        )
        report(cold_read(base, board))
    report(f"healthz floor: {floor:,.0f} req/s (mean of the first and last run)")
    for name, load in loads.items():
        report(_line(name, load, floor))
    load, how = time_redis(board, seconds=seconds, connections=connections)
    report(f"{_line('redis ZREVRANGE', load, floor, decimals=2)}  (0 99 WITHSCORES; {how})")
    return headline(loads, floor)
