"""The read benchmark behind `manage.py bench_reads`: `data` loads the boards, `endpoints`
names the reads, `timing` measures them (wrk, raw Redis), `run` puts it together."""

from devtools.bench_reads.endpoints import ENDPOINT_NAMES, HEALTHZ
from devtools.bench_reads.errors import BenchFailed
from devtools.bench_reads.run import run_benchmark

__all__ = ["ENDPOINT_NAMES", "HEALTHZ", "BenchFailed", "run_benchmark"]
