"""The workbench is not product: the Docker image does not ship devtools/ (its build
context, read here with .dockerignore's rules as Docker applies them) and production
settings do not install it, so `manage.py bench_standings` is no command there."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]


@cache
def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex, as Docker's patternmatcher builds it: `*` and `?`
    stop at a slash, `**` crosses them, and the pattern is relative to the context root."""
    pattern = os.path.normpath(pattern).lstrip("/")
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                out, i = out + "(.*/)?", i + 1
            else:
                out += ".*"
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def dockerignore_excludes(path: str, lines: list[str]) -> bool:
    """Whether Docker leaves `path` out of the build context: the last pattern matching it,
    or one of the folders above it, decides; `!` re-includes."""
    parents = [str(parent) for parent in reversed(Path(path).parents) if str(parent) != "."]
    excluded = False
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        regex = _pattern(line.removeprefix("!").strip())
        if any(regex.match(candidate) for candidate in [*parents, path]):
            excluded = not negate
    return excluded


def image_files() -> list[str]:
    """The files of a clean checkout that `COPY . .` puts into the image."""
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=BASE_DIR, capture_output=True, text=True, check=True
    ).stdout.split()
    lines = (BASE_DIR / ".dockerignore").read_text().splitlines()
    return [path for path in tracked if not dockerignore_excludes(path, lines)]


def test_the_dockerignore_rules_read_as_docker_reads_them():
    lines = ["**/__pycache__", "tests", "docs/*.md", "!docs/keep.md"]
    assert dockerignore_excludes("leaderboards/__pycache__/x.pyc", lines)
    assert dockerignore_excludes("tests/leaderboards/test_models.py", lines)
    assert dockerignore_excludes("docs/a.md", lines)
    assert not dockerignore_excludes("docs/keep.md", lines)
    assert not dockerignore_excludes("docs/deep/a.md", lines)  # `*` stops at a slash
    assert not dockerignore_excludes("leaderboards/tests.py", lines)


def test_the_image_does_not_ship_the_workbench():
    files = image_files()

    assert not [path for path in files if path.startswith("devtools/")]
    # ...and still ships the product, the Lua scripts included.
    assert "manage.py" in files
    assert "leaderboards/cache/lua/apply.lua" in files
    assert "ingestion/management/commands/produce_fake_events.py" in files


def run_manage(*args: str) -> subprocess.CompletedProcess:
    """manage.py under production settings: no DJANGO_DEBUG, no DJANGO_DEVTOOLS."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_DEBUG", "DJANGO_DEVTOOLS")
    }
    env["DJANGO_SECRET_KEY"] = "production-like-secret"
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_production_settings_do_not_install_the_workbench():
    result = run_manage(
        "shell", "-c", "from django.conf import settings; print(settings.INSTALLED_APPS)"
    )
    assert result.returncode == 0, result.stderr
    assert "'ingestion'" in result.stdout
    assert "devtools" not in result.stdout

    for command in ("bench_standings", "bench_reads", "bench_ingest"):
        result = run_manage(command)
        assert result.returncode != 0
        assert f"Unknown command: '{command}'" in result.stderr
