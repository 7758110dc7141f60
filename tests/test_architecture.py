"""The import rules of pyproject.toml's [tool.importlinter]: ingestion above leaderboards
above players, config below all; inside leaderboards the API and pages on top, the domain,
then the Redis side above the PostgreSQL side, which never imports it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]


def test_no_module_imports_against_the_layers():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=BASE_DIR, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
