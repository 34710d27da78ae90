"""How long the analysts' notebooks take top to bottom, as an analyst runs them (bar: two minutes).

    .venv/bin/python benchmarks/notebooks.py                        # both, every row of the sample
    .venv/bin/python benchmarks/notebooks.py --notebook explore --rows 2000

Each notebook runs in a fresh ``python3`` kernel of this interpreter (``nbclient``, as the tests
run them), on its own defaults (``DATA = "data/orders.jsonl.gz"``, every row) unless ``--rows``
is given, with its outputs written to a temporary folder instead of ``var/notebooks``. The time
is the wall clock from the kernel's start to the last cell's end, kernel start included.
Writes ``benchmarks/results/notebooks.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat
from common import machine, now_iso, write_result
from nbclient import NotebookClient

from fraudscreen.config import REPO_DIR

NOTEBOOKS = ("explore", "retrain")
BAR_SECONDS = 120.0
"""The design's bar: each notebook runs top to bottom on the sample in under two minutes."""


def _kernel_spec(folder: Path) -> None:
    """A ``python3`` kernel spec that runs this interpreter, first on ``JUPYTER_PATH``."""
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (fraudscreen benchmark)", "language": "python"}))
    os.environ["JUPYTER_PATH"] = str(folder)


def run_notebook(name: str, out_dir: Path, rows: int | None) -> float:
    """Run ``notebooks/<name>.ipynb`` with its outputs in ``out_dir``; the seconds it took."""
    nb = nbformat.read(REPO_DIR / "notebooks" / f"{name}.ipynb", as_version=4)
    params = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    overrides = f"OUT_DIR = {str(out_dir)!r}\n" + (f"N_ROWS = {rows}\n" if rows else "")
    nb.cells.insert(params + 1, nbformat.v4.new_code_cell(overrides))
    client = NotebookClient(nb, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": str(REPO_DIR)}})
    started = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--notebook", action="append", choices=NOTEBOOKS,
                        help="run only this notebook (repeatable; default: both)")
    parser.add_argument("--rows", type=int, default=None,
                        help="the notebooks' N_ROWS (default: theirs, every row)")
    parser.add_argument("--out", type=Path, default=None, help="JSON result path")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"started": now_iso(), "machine": machine(), "rows": args.rows,
                              "bar_seconds": BAR_SECONDS, "seconds": {}}
    with tempfile.TemporaryDirectory() as tmp:
        _kernel_spec(Path(tmp) / "jupyter")
        for name in args.notebook or NOTEBOOKS:
            seconds = run_notebook(name, Path(tmp) / name, args.rows)
            report["seconds"][name] = round(seconds, 2)
            verdict = "under" if seconds < BAR_SECONDS else "OVER"
            print(f"{name}.ipynb: {seconds:.1f} s ({verdict} the {BAR_SECONDS:.0f} s bar)")
    write_result("notebooks", report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
