"""The benchmark scripts still run (on a handful of orders): they wrap and call the screening
code by name, and a rename there must not break them unnoticed. Their figures are not checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fraudscreen.config import REPO_DIR

pytestmark = pytest.mark.slow


def _run(script: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, str(REPO_DIR / "benchmarks" / script), *args, "--out", str(out)],
        check=False, cwd=REPO_DIR, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text())


def test_screen_inprocess_runs_with_its_stage_breakdown(tmp_path: Path) -> None:
    report = _run("screen_inprocess.py", tmp_path, "--orders", "40", "--warmup", "5",
                  "--breakdown-orders", "30")
    stages = report["breakdown"]["microseconds_per_order"]
    assert {"parse", "enrich", "history", "features", "rules", "save"} <= set(stages)


def test_replay_runs_in_one_process_and_with_a_worker(tmp_path: Path) -> None:
    report = _run("replay.py", tmp_path, "--orders", "400", "--runs", "1", "--workers", "1",
                  "--sql-orders", "50")
    assert report["memory_store"]["workers"] == 0 and report["memory_store_workers"]["workers"] == 1
    assert report["memory_store"]["replayed"] == report["memory_store_workers"]["replayed"] > 0
    assert report["sql_store"]["orders"] == 50
    assert report["saved_replay"]["rows_read"] == report["memory_store"]["replayed"]


def test_notebooks_benchmark_times_a_notebook(tmp_path: Path) -> None:
    report = _run("notebooks.py", tmp_path, "--notebook", "explore", "--rows", "400")
    assert report["rows"] == 400 and report["bar_seconds"] == 120.0
    assert list(report["seconds"]) == ["explore"] and report["seconds"]["explore"] > 0
