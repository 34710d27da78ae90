"""The back-test by scenario: which fraud patterns each system catches, which honest customers it
flags.

Simulated rows name the scenario that made them (``scenario``: a fraud pattern such as
``card_testing``, or an honest one such as ``traveller``; ``data/README.md``). The overall
figures hide what an analyst most needs to know: a model that catches 75% of the fraud may
catch every card test and miss every friendly fraud, and the 5% it flags may fall mostly on
travellers. For each scenario the test rows name, :func:`scenario_table` gives each system's
flagged and rejected shares of its rows: for a fraud pattern, the share caught; for an honest
scenario, the share of good customers sent to review or refused. A scenario holds tens of test
rows, not thousands, so the flagged share comes with a 95% Wilson score interval.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import binomtest

from fraudscreen.training.intervals import CONFIDENCE

__all__ = ["scenario_table", "wilson_interval"]


def wilson_interval(hits: int, rows: int, confidence: float = CONFIDENCE) -> list[float] | None:
    """The Wilson score interval of the share ``hits / rows``; None for no rows."""
    if rows <= 0:
        return None
    ci = binomtest(hits, rows).proportion_ci(confidence_level=confidence, method="wilson")
    return [float(ci.low), float(ci.high)]


def _kind(frauds: int, rows: int) -> str:
    return "fraud" if frauds == rows else "legit" if frauds == 0 else "mixed"


def scenario_table(
    y: np.ndarray, scenarios: Sequence[str | None], decisions: Mapping[str, np.ndarray]
) -> dict[str, dict[str, Any]]:
    """Per scenario of the rows (rows without one are left out): its label (``fraud``,
    ``legit`` or ``mixed``), rows and frauds, and for each system in ``decisions`` (0 accept,
    1 review, 2 reject per row) the flagged share with its interval, the rejected share, and
    the flagged shares of its frauds and of its legit rows apart (None where it has none).

    Fraud patterns come first, then mixed scenarios, then honest ones; the most rows first
    within each."""
    where: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(scenarios):
        if name is not None:
            where[name].append(i)
    table: dict[str, dict[str, Any]] = {}
    rank = {"fraud": 0, "mixed": 1, "legit": 2}
    entries = []
    for name, rows in where.items():
        idx = np.asarray(rows, dtype=np.int64)
        n, frauds = int(idx.size), int(y[idx].sum())
        systems = {}
        fraud = y[idx] == 1
        for system, decided in decisions.items():
            flags = decided[idx] >= 1
            flagged = int(np.count_nonzero(flags))
            caught = int(np.count_nonzero(flags & fraud))
            systems[system] = {
                "flagged_share": flagged / n,
                "flagged_interval": wilson_interval(flagged, n),
                "reject_share": int(np.count_nonzero(decided[idx] == 2)) / n,
                "flagged_recall": caught / frauds if frauds else None,
                "legit_flagged_share": (flagged - caught) / (n - frauds) if n > frauds else None,
            }
        kind = _kind(frauds, n)
        entries.append(((rank[kind], -n, name), name,
                        {"label": kind, "rows": n, "frauds": frauds, "systems": systems}))
    for _, name, entry in sorted(entries):
        table[name] = entry
    return table
