"""`make model` gives the shipped bundle: the same trees, calibration, thresholds and card figures."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from fraudscreen.cli import main
from fraudscreen.config import REPO_DIR, load_settings
from fraudscreen.model import ModelBundle
from fraudscreen.training.jsonl import iter_jsonl
from fraudscreen.training.pipeline import replay

SHIPPED = REPO_DIR / "models" / "default"
WHEN_TRAINED = ("trained_at", "created_at", "seconds", "orders_per_second")
"""Card keys that hold the time of the run or its speed, the only ones a rerun changes."""


def _make_model_args() -> list[str]:
    """The arguments of ``fraudscreen`` in the Makefile's ``model`` target (the documented command)."""
    makefile = (REPO_DIR / "Makefile").read_text()
    match = re.search(r"^model:.*\n\t\$\(BIN\)/fraudscreen (.+)$", makefile, flags=re.MULTILINE)
    assert match, "the Makefile's model target is gone"
    return shlex.split(match.group(1))


def _without_run_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_run_times(v) for k, v in value.items() if k not in WHEN_TRAINED}
    if isinstance(value, list):
        return [_without_run_times(v) for v in value]
    return value


@pytest.mark.slow
def test_make_model_reproduces_the_shipped_bundle_and_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = _make_model_args()
    assert args[:1] == ["train"] and args[args.index("--out") + 1] == "models/default"
    out = tmp_path / "default"
    args[args.index("--out") + 1] = str(out)
    monkeypatch.chdir(REPO_DIR)  # make runs it from the repository, where --data is relative
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "var"), *args, "--no-progress"])
    assert result.exit_code == 0, result.output

    shipped, again = ModelBundle.load(SHIPPED), ModelBundle.load(out)
    assert (again.version, again.thresholds, again.feature_names) == (
        shipped.version, shipped.thresholds, shipped.feature_names)
    assert again.training_data_sha256 == shipped.training_data_sha256
    # the sample's own rows, as the service would see them: every probability the same
    rows = list(iter_jsonl(REPO_DIR / "data" / "orders.jsonl.gz"))[-600:]
    X = replay(rows, settings=load_settings(), workers=0).X
    np.testing.assert_array_equal(again.predict_proba(X), shipped.predict_proba(X))

    card = json.loads((SHIPPED / "model_card.json").read_text())
    rerun = json.loads((out / "model_card.json").read_text())
    assert _without_run_times(rerun) == _without_run_times(card)
    assert card["trained_at"] != rerun["trained_at"]  # the comparison did skip something
