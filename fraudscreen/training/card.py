"""The model card: what a bundle was trained on and how well it did on held-out rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fraudscreen.features import describe_feature


def model_card(result: Any, *, data_path: Path, skipped: int = 0) -> dict[str, Any]:
    """The card as a JSON-ready dict."""
    bundle = result.bundle
    return {
        "version": bundle.version,
        "trained_at": bundle.trained_at,
        "sklearn_version": bundle.sklearn_version,
        "data": {"path": str(data_path), "sha256": bundle.training_data_sha256, "skipped_rows": skipped},
        "features": [{"name": n, "description": describe_feature(n)} for n in bundle.feature_names],
        "params": bundle.params,
        "thresholds": {"review": bundle.thresholds.review, "reject": bundle.thresholds.reject},
        "metrics_held_out": bundle.metrics,
        "report": result.report,
    }


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def write_model_card(result: Any, out_dir: Path, *, data_path: Path, skipped: int = 0) -> None:
    """Write ``model_card.json`` and ``MODEL_CARD.md`` beside the bundle."""
    card = model_card(result, data_path=data_path, skipped=skipped)
    (out_dir / "model_card.json").write_text(json.dumps(card, indent=2, default=str) + "\n")
    metrics = card["metrics_held_out"]
    lines = [
        f"# Model card: {card['version']}",
        "",
        f"- Trained: {card['trained_at']} with scikit-learn {card['sklearn_version']}",
        f"- Data: `{card['data']['path']}` (sha256 `{card['data']['sha256'][:16]}…`)",
        f"- Thresholds: review at p ≥ {card['thresholds']['review']:.4f}, "
        f"reject at p ≥ {card['thresholds']['reject']:.4f}",
        "",
        "## Metrics on held-out rows (the latest orders in time, never trained on)",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for key in sorted(metrics):
        value = metrics[key]
        if isinstance(value, dict):
            value = ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
        lines.append(f"| {key} | {_fmt(value)} |")
    lines += ["", "## Features", ""]
    lines += [f"- `{f['name']}`: {f['description']}" for f in card["features"]]
    (out_dir / "MODEL_CARD.md").write_text("\n".join(lines) + "\n")
