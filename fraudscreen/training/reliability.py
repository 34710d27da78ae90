"""Does a fraud probability of 2% mean two frauds in a hundred orders? Calibration on held-out rows.

The thresholds are probabilities, and an analyst reads a review threshold of 0.05 as "one in
twenty of these is fraud". The model is calibrated on the latest train rows; whether that
holds on later orders is measured here, on the test rows: the rows are grouped in bands of
predicted probability, and each band's mean prediction is set against the fraud share that
happened, with a 95% Wilson interval (a band of the riskiest orders holds a few dozen rows).
The Brier score and the frauds the model expected against those that came sum it up.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fraudscreen.training.segments import wilson_interval

__all__ = ["PROBABILITY_BANDS", "percent", "reliability"]

PROBABILITY_BANDS = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
"""Edges of the bands: most orders score near 0, so the bands narrow towards it; a band holds
``from <= p < to``, the last one ``p <= 1`` too."""


def reliability(y: np.ndarray, p: np.ndarray, edges: tuple[float, ...] = PROBABILITY_BANDS) -> dict[str, Any]:
    """Calibration of probabilities ``p`` against labels ``y`` (1 fraud): the Brier score, the
    frauds expected (the sum of ``p``) against the frauds labelled, and per band of ``edges``
    that holds rows: its rows and frauds, mean probability, fraud share and the share's interval."""
    y = np.asarray(y).astype(np.int64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    n = int(y.size)
    band = np.clip(np.searchsorted(np.asarray(edges), p, side="right") - 1, 0, len(edges) - 2)
    bands = []
    for k in range(len(edges) - 1):
        rows = band == k
        count = int(rows.sum())
        if not count:
            continue
        frauds = int(y[rows].sum())
        bands.append({
            "from": edges[k], "to": edges[k + 1], "rows": count, "frauds": frauds,
            "mean_probability": float(p[rows].mean()), "fraud_rate": frauds / count,
            "fraud_rate_interval": wilson_interval(frauds, count),
        })
    return {
        "brier_score": float(np.mean((p - y) ** 2)) if n else None,
        "expected_frauds": float(p.sum()),
        "frauds": int(y.sum()),
        "bands": bands,
    }


def percent(share: float, sign: bool = True) -> str:
    """A share as a percentage with two significant digits below 1% (``0.013%``) and one
    decimal from there (``93.9%``): the bands run from hundredths of a percent to nearly all."""
    value = 100 * share
    text = f"{value:.1f}" if value >= 1 or value == 0 else f"{value:.2g}"
    return text + ("%" if sign else "")
