"""`manage.py bench_ingest --baseline REF`: the same benchmark on another commit, alternating.

The machine is shared and noisy, so a figure means something only beside a baseline taken
in the same session: the commit REF is checked out in a worktree of its own
(`.devstack/baseline/<commit>`, kept for the next run), installed with `make install`,
and its own `manage.py bench_ingest` runs in turn with this checkout's, round after round,
each with embedded services of its own. Each run's lines go by with a `[REF]` or `[this]`
prefix; the last lines compare the two.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
RESULT_PREFIX = "ingest: "


class BaselineError(Exception):
    """REF cannot be checked out or installed."""


@dataclass
class Side:
    name: str
    directory: Path
    runs: list[list[str]] = field(default_factory=list)  # each run's `ingest:` lines

    def per_minute(self, position: int) -> list[float]:
        """Each run's rate on its `position`-th result (one per consumer count)."""
        return [_events_per_minute(run[position]) for run in self.runs if len(run) > position]


def _events_per_minute(line: str) -> float:
    """The rate of an `ingest: 1,234,567 events/min, ...` line."""
    return float(line.removeprefix(RESULT_PREFIX).split(" ", 1)[0].replace(",", ""))


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=BASE_DIR, capture_output=True, text=True, check=False)
    if done.returncode:
        raise BaselineError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def baseline_checkout(ref: str, report: Callable[[str], None]) -> Path:
    """A worktree of `ref`, installed: made on first use, reused after."""
    commit = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    directory = BASE_DIR / ".devstack" / "baseline" / commit[:12]
    if not (directory / "manage.py").exists():
        report(f"checking out {ref} ({commit[:12]}) in {directory}")
        _git("worktree", "add", "--detach", "--force", str(directory), commit)
    if not (directory / ".venv" / "bin" / "python").exists():
        report(f"installing {ref}'s dependencies (make install)")
        done = subprocess.run(["make", "install"], cwd=directory, check=False)
        if done.returncode:
            raise BaselineError(f"make install in {directory} failed ({done.returncode})")
    return directory


def _run(side: Side, args: Sequence[str], report: Callable[[str], None]) -> None:
    """One benchmark run in `side`'s checkout, its lines passed on as they come."""
    env = {
        key: value
        for key, value in os.environ.items()
        # Each run starts embedded services of its own.
        if key not in ("DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS")
    }
    env |= {"DJANGO_DEVTOOLS": "1", "PYTHONDONTWRITEBYTECODE": ""}
    command = [str(side.directory / ".venv" / "bin" / "python"), "manage.py", "bench_ingest"]
    with subprocess.Popen(
        [*command, *args],
        cwd=side.directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        results = []
        for line in process.stdout:
            line = line.rstrip("\n")
            if not line.startswith("{"):  # the consumers' JSON logs stay out of it
                report(f"[{side.name}] {line}")
            if line.startswith(RESULT_PREFIX):
                results.append(line)
    if process.returncode or not results:
        raise BaselineError(f"the {side.name} run failed (exit {process.returncode})")
    side.runs.append(results)


def run_alternating(
    *, ref: str, args: Sequence[str], rounds: int, report: Callable[[str], None]
) -> tuple[Side, Side]:
    """`rounds` runs each of REF's benchmark and this checkout's, alternating, REF first."""
    baseline = Side(ref, baseline_checkout(ref, report))
    this = Side("this", BASE_DIR)
    for number in range(1, rounds + 1):
        for side in (baseline, this):
            report(f"round {number} of {rounds}: {side.name}")
            _run(side, args, report)
    return baseline, this


def comparison(baseline: Side, this: Side) -> list[str]:
    """The closing lines: every run's results, then per consumer count the means of both
    sides and their ratio."""
    lines = [
        f"{side.name}: {line}" for side in (baseline, this) for run in side.runs for line in run
    ]
    for position in range(max(len(run) for run in this.runs)):
        before, after = baseline.per_minute(position), this.per_minute(position)
        if not before or not after:
            continue
        mean_before, mean_after = statistics.mean(before), statistics.mean(after)
        lines.append(
            f"A/B: this {mean_after:,.0f} events/min against {baseline.name} "
            f"{mean_before:,.0f} ({mean_after / mean_before:.2f}x), "
            f"means of {len(after)} and {len(before)} runs taken alternately"
        )
    return lines


def main_args(argv: Sequence[str]) -> list[str]:
    """This command's arguments without --baseline/--rounds (and their values), for the
    runs on either side."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in ("--baseline", "--rounds"):
            skip = "=" not in arg
            continue
        kept.append(arg)
    return kept


def command_args() -> list[str]:
    """The arguments `manage.py bench_ingest` was given."""
    return main_args(sys.argv[2:])
