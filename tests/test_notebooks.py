"""The analysts' notebooks run top to bottom on the shipped sample and leave their results."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
N_ROWS = 8000  # the first 8,000 orders of the sample keep the test short; the default is all


@pytest.fixture()
def kernel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``python3`` kernel spec that runs this interpreter (the venv), first on JUPYTER_PATH."""
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (fraudscreen tests)",
        "language": "python",
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))


def _run(name: str, out_dir: Path, workdir: Path, extra: str = "") -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "clear outputs"
    params = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(params + 1, nbformat.v4.new_code_cell(
        f"OUT_DIR = {str(out_dir)!r}\nN_ROWS = {N_ROWS}\n{extra}"))
    client = NotebookClient(nb, kernel_name="python3", timeout=300,
                            resources={"metadata": {"path": str(workdir)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    return nb


@pytest.mark.slow
@pytest.mark.usefixtures("kernel_env")
def test_retrain_notebook_trains_compares_and_saves(tmp_path: Path) -> None:
    shipped = ROOT / "models" / "default" / "model.joblib"
    shipped_before = shipped.read_bytes() if shipped.exists() else None
    out = tmp_path / "retrain"
    _run("retrain", out, tmp_path)
    for figure in ("roc_pr", "score_distribution", "calibration", "decision_mix",
                   "permutation_importance"):
        assert (out / f"{figure}.png").stat().st_size > 5000
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["rows"] == N_ROWS
    # calibration and drift from the package, on the test rows
    assert sum(b["rows"] for b in summary["calibration"]["bands"]) == summary["test_rows"]
    assert summary["calibration"]["brier_score"] == pytest.approx(summary["metrics"]["brier"])
    from fraudscreen.features import FEATURE_NAMES

    assert [d["feature"] for d in summary["drift"]] != [] and len(summary["drift"]) == len(FEATURE_NAMES)
    assert summary["test_rows"] == round(N_ROWS * 0.2)
    assert 0.8 < summary["metrics"]["roc_auc"] <= 1.0
    sweep = summary["capacity_sweep"]  # the package's capacity_sweep, as the back-test's table
    assert [s["review_capacity"] for s in sweep] == [c / 100 for c in range(1, 11)]
    assert sweep[-1]["flagged_share"] > sweep[0]["flagged_share"]
    at_five = next(s for s in sweep if s["review_capacity"] == 0.05)  # the notebook's capacity
    assert at_five["review_threshold"] == summary["thresholds"]["review"]
    assert len(summary["permutation_importance"]) == 15
    assert "new" in summary["comparison"]
    # the simulated rows' fraud patterns, each with the share the service flags
    patterns = {n: e for n, e in summary["by_scenario"].items() if e["label"] == "fraud"}
    assert "stolen_card" in patterns and (out / "by_scenario.png").stat().st_size > 5000
    assert sum(e["rows"] for e in summary["by_scenario"].values()) == summary["test_rows"]
    if shipped_before is not None:
        from fraudscreen.model import ModelBundle

        if set(ModelBundle.load(shipped).feature_names) <= set(FEATURE_NAMES):
            assert (out / "new_vs_shipped.png").exists()
            assert summary["comparison"]["shipped"]["roc_auc"] > 0.5
            difference = summary["comparison"]["difference_95_interval"]["roc_auc"]
            new_minus_old = summary["metrics"]["roc_auc"] - summary["comparison"]["shipped"]["roc_auc"]
            assert difference[0] <= new_minus_old <= difference[1]
            # the first 8,000 orders lie in the shipped model's training period: it says so
            assert any("may have been its training rows" in w
                       for w in summary["comparison"]["shipped"]["warnings"])
        assert shipped.read_bytes() == shipped_before  # saved under OUT_DIR, not over models/
    assert _bundle_loads(out / "model.joblib")
    report = json.loads((out / "backtest.json").read_text())  # the report backtest would write
    assert report["split"]["test_rows"] == summary["test_rows"] and report["model"]["version"] == "notebook"


@pytest.mark.slow
@pytest.mark.usefixtures("kernel_env")
def test_retrain_notebook_trains_on_an_export_of_the_live_store(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from fraudscreen.config import Settings
    from fraudscreen.training.logged import export_labelled
    from fraudscreen.training.simulate import simulate_orders

    from helpers import screen_live

    settings = Settings(data_dir=tmp_path / "var")  # SQLite, bundled GeoIP, shipped model
    from fraudscreen.store import open_store

    open_store(settings).close()
    rows = list(simulate_orders(3000, seed=5, start=datetime(2026, 2, 2, tzinfo=UTC)))
    screener, _ = screen_live(settings, rows)
    export = tmp_path / "training.jsonl.gz"
    last = max(datetime.fromisoformat(r["event"]["time"]) for r in rows)
    summary = export_labelled(screener.store, export, now=last + timedelta(days=20))
    screener.store.close()
    out = tmp_path / "retrain"
    _run("retrain", out, tmp_path, extra=f"DATA = {str(export)!r}\nN_ROWS = None")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["rows"] == summary.rows < 3000  # the last 10 days are too recent to label
    assert summary.fraud > 20 and summary.too_recent > 0
    assert metrics["test_rows"] == round(summary.rows * 0.2)
    assert metrics["metrics"]["roc_auc"] > 0.7
    assert metrics["by_scenario"] == {} and not (out / "by_scenario.png").exists()  # none logged


def _bundle_loads(path: Path) -> bool:
    from fraudscreen.model import ModelBundle

    return ModelBundle.load(path).version == "notebook"


@pytest.mark.slow
@pytest.mark.usefixtures("kernel_env")
def test_explore_notebook_breaks_fraud_down(tmp_path: Path) -> None:
    out = tmp_path / "explore"
    _run("explore", out, tmp_path)
    for figure in ("by_country", "by_hour", "by_account_age", "by_scenario", "by_category",
                   "label_delay"):
        assert (out / f"{figure}.png").stat().st_size > 5000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"] == N_ROWS
    assert 0.01 < summary["fraud_rate"] < 0.06
    assert "US" in summary["by_country"] and len(summary["by_local_hour"]) == 24
    assert sum(v["orders"] for v in summary["by_account_age"].values()) == N_ROWS
    assert summary["fraud_patterns"] and summary["label_delay_days"]["fraud_min"] >= 20
