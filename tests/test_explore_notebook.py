"""The explore notebook on files other than the shipped sample: a file of logged features, and
order history without the simulator's ``scenario`` or a ``label_time`` on every row."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError
from test_notebooks import _run, kernel_env  # noqa: F401

LOGGED = ("holds features the service logged (an export-training file or a saved replay), not "
          "the orders' fields; explore needs score requests such as `fraudscreen simulate` writes")


def _simulated() -> list[dict[str, Any]]:
    from fraudscreen.training.simulate import simulate_orders

    return list(simulate_orders(3000, seed=11, start=datetime(2026, 2, 2, tzinfo=UTC)))


def _write(rows: list[dict[str, Any]], path: Path) -> Path:
    from fraudscreen.training.jsonl import write_jsonl

    write_jsonl(rows, path)
    return path


def _explore(data: Path, out: Path, workdir: Path) -> tuple[nbformat.NotebookNode, dict[str, Any]]:
    nb = _run("explore", out, workdir, extra=f"DATA = {str(data)!r}\nN_ROWS = None")
    return nb, json.loads((out / "summary.json").read_text())


def _printed(nb: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.get("output_type") == "stream")


@pytest.mark.slow
@pytest.mark.usefixtures("kernel_env")
def test_explore_refuses_a_saved_replay_in_one_sentence(tmp_path: Path) -> None:
    from fraudscreen.config import Settings
    from fraudscreen.training.pipeline import load_labelled

    orders = _write(_simulated()[:600], tmp_path / "orders.jsonl")
    saved = tmp_path / "r.jsonl.gz"
    load_labelled(orders, settings=Settings(data_dir=tmp_path / "var"), save_replay=saved)
    out = tmp_path / "explore"
    with pytest.raises(CellExecutionError) as raised:
        _run("explore", out, tmp_path, extra=f"DATA = {str(saved)!r}\nN_ROWS = None")
    error = raised.value
    assert error.ename == "DataFileError"
    assert error.evalue == f"{saved} {LOGGED}"
    assert "KeyError" not in str(error)
    # raised by the setup cell itself: no frame of the package's or a library's code
    assert ".py:" not in str(error) and "site-packages" not in str(error)
    assert not out.exists()  # stopped before making the output directory


@pytest.mark.slow
@pytest.mark.usefixtures("kernel_env")
def test_explore_runs_on_orders_without_scenarios(tmp_path: Path) -> None:
    from fraudscreen.training.sim_tables import COUNTRIES

    rows = _simulated()
    for r in rows:
        del r["scenario"]
    assert "IS" not in COUNTRIES
    iceland = 0
    for r in rows[::50]:  # a country the simulator's table has no offset for
        r["billing"]["country"] = "IS"
        iceland += 1
    out = tmp_path / "explore"
    nb, summary = _explore(_write(rows, tmp_path / "history.jsonl"), out, tmp_path)
    assert summary["rows"] == len(rows)
    assert summary["fraud_patterns"] == {} and summary["legit_scenarios"] == {}
    assert not (out / "by_scenario.png").exists()
    for figure in ("by_country", "by_hour", "by_account_age", "by_category", "label_delay"):
        assert (out / f"{figure}.png").stat().st_size > 5000
    printed = _printed(nb)
    assert "no scenarios in these rows" in printed and "unknown" not in printed
    assert summary["local_hour_at_utc"] == iceland
    assert f"{iceland} orders (" in printed and "their buyer local hour is UTC" in printed


@pytest.mark.slow
@pytest.mark.usefixtures("kernel_env")
def test_explore_runs_on_legit_orders_without_label_time(tmp_path: Path) -> None:
    from fraudscreen.schema import rfc3339

    rows = _simulated()
    legit = 0
    for r in rows:
        if r["label"] == "legit":
            del r["label_time"]
            legit += 1
    delays = [(rfc3339(r["label_time"]) - rfc3339(r["event"]["time"])).total_seconds() / 86400
              for r in rows if r["label"] == "fraud"]
    assert len(delays) > 20
    out = tmp_path / "explore"
    nb, summary = _explore(_write(rows, tmp_path / "history.jsonl"), out, tmp_path)
    assert summary["rows"] == len(rows)
    label_delay = summary["label_delay_days"]
    assert label_delay["fraud_min"] == pytest.approx(min(delays))
    assert label_delay["fraud_max"] == pytest.approx(max(delays))
    assert label_delay["fraud_min"] >= 20
    assert label_delay["legit"] == []
    assert label_delay["without_label_time"] == {"fraud": 0, "legit": legit}
    assert (out / "label_delay.png").stat().st_size > 5000
    assert f"no label_time: 0 fraud and {legit} legit orders" in _printed(nb)
    assert summary["fraud_patterns"]  # the scenarios are still there


@pytest.mark.slow
@pytest.mark.usefixtures("kernel_env")
def test_explore_reads_orders_as_the_service_does_and_leaves_out_what_the_replay_skips(
        tmp_path: Path) -> None:
    rows = _simulated()
    for r in rows[::50]:  # optional parts missing: no billing address, no cart
        del r["billing"]
    for r in rows[1::2]:  # half the rows: lower-case codes would make groups of their own
        r["billing"]["country"] = r["billing"]["country"].lower()
    for r in rows[2::50]:
        del r["shopping_cart"]
    rows[3]["label"] = "maybe"
    rows.append(json.loads(json.dumps(rows[10])))  # a repeated transaction id
    out = tmp_path / "explore"
    nb, summary = _explore(_write(rows, tmp_path / "history.jsonl"), out, tmp_path)
    assert summary["rows"] == len(rows) - 2 and summary["rows_skipped"] == 2
    assert summary["by_country"]["(none)"]["orders"] == 60
    assert all(k == k.upper() for k in summary["by_country"] if k != "(none)")  # "gb" is GB
    assert summary["by_category"]["(none)"]["orders"] == 60
    assert summary["local_hour_at_utc"] >= 60
    printed = _printed(nb)
    assert f"{len(rows) - 2} usable rows, 2 skipped" in printed
    assert "1 with a label other than fraud or legit" in printed
