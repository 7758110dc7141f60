"""How the benchmark times a read: wrk on an endpoint through the web app, and raw Redis
(redis-benchmark when installed, else a redis-py loop) on the board's sorted set."""

from __future__ import annotations

import csv
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from devtools.bench_reads.data import store_client
from devtools.bench_reads.endpoints import Endpoint
from devtools.bench_reads.errors import BenchFailed
from leaderboards.cache.store import BoardKeys
from leaderboards.models import Board

WARM_UP_SECONDS = 1
_WRK_LATENCY = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


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


def run_wrk(
    base: str,
    endpoint: Endpoint,
    *,
    seconds: int,
    connections: int,
    threads: int,
    warm_up: int = WARM_UP_SECONDS,
) -> Load:
    """`wrk --latency` on the endpoint for `seconds`, after `warm_up` seconds of the same
    (none when 0)."""
    with tempfile.TemporaryDirectory(prefix="bench-reads-") as folder:
        argv = ["wrk", f"-t{threads}", f"-c{connections}", "--latency"]
        script = _wrk_script(endpoint, Path(folder))
        if script is not None:
            argv += ["-s", str(script)]
        url = base + endpoint.path
        if warm_up > 0:
            subprocess.run([*argv, f"-d{warm_up}s", url], capture_output=True, check=True)
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
    client = store_client()
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
