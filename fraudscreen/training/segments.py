"""The back-test by segment: which fraud patterns each system catches, which customers it stops.

The overall figures hide what an analyst most needs to know: a model that catches 75% of the
fraud may catch every card test and miss every friendly fraud, and the 5% of orders it flags
may fall mostly on travellers, or on one country. The replay gives each row a segment
(:func:`segment_of`): by default its ``scenario`` (what the simulator names the fraud pattern or
honest scenario that made it, ``data/README.md``), or a field of the order such as its billing
country (``backtest --segment-by``). For each segment of the test rows, :func:`segment_table`
gives each system's flagged and rejected shares: for a fraud pattern, the share caught; for
honest customers, the share stopped; for a segment with both labels, both apart. A segment
holds tens of test rows, not thousands, so the flagged share comes with a 95% Wilson score
interval.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

import numpy as np

from fraudscreen.prepared import PreparedOrder
from fraudscreen.schema import CONTROL_CHARACTER, OrderRequest
from fraudscreen.training.intervals import CONFIDENCE

__all__ = ["MAX_SCENARIO_LENGTH", "SEGMENT_FIELDS", "SegmentBy", "segment_name", "segment_of", "segment_table",
           "wilson_interval"]

MAX_SCENARIO_LENGTH = 100
"""Longest ``scenario`` a row may name; a longer one, one that is not a string, or one that
holds an e-mail address or a card number, counts as none (the field is for analysis only and
never skips a row: :func:`segment_name`)."""
SegmentBy = Literal["scenario", "billing-country", "ip-country", "card-country", "currency",
                    "payment-method"]
"""What a back-test can break its test rows down by (``--segment-by``; :func:`segment_of`):
none of it personal."""
SEGMENT_FIELDS: tuple[SegmentBy, ...] = get_args(SegmentBy)
"""The values of :data:`SegmentBy`, in order."""


def segment_of(by: SegmentBy, row: Mapping[str, Any], order: OrderRequest, prepared: PreparedOrder) -> str | None:
    """The segment of a labelled row by ``by`` (one of :data:`SEGMENT_FIELDS`): its
    ``scenario`` (the simulator's fraud pattern or honest scenario), ``billing.country``, the
    country of its IP address (GeoIP), ``credit_card.country`` (the issuing bank's),
    ``order.currency`` or ``payment.method``; None when the row does not say."""
    if by == "scenario":
        return segment_name(row.get("scenario"))
    if by == "billing-country":
        return prepared.billing_country
    if by == "ip-country":
        return prepared.ip_country
    if by == "card-country":
        return order.credit_card.country
    if by == "currency":
        return prepared.currency
    if by == "payment-method":
        return order.payment.method
    raise ValueError(f"segment_by must be one of {', '.join(SEGMENT_FIELDS)}")


def segment_name(raw: Any) -> str | None:
    """``raw`` when it can name a segment: a string of 1 to :data:`MAX_SCENARIO_LENGTH`
    characters without an e-mail address, a card number or a control character (the segment is
    printed to the terminal and written to every output of a back-test: a line break would
    split a CSV record, an escape sequence clear the screen); None otherwise."""
    from fraudscreen.enrich.card import find_card_numbers

    if not isinstance(raw, str) or not 0 < len(raw) <= MAX_SCENARIO_LENGTH:
        return None
    if CONTROL_CHARACTER.search(raw):
        return None
    if any(at in raw for at in "@＠﹫"):  # an address, or part of one
        return None
    return None if find_card_numbers(raw) else raw


def wilson_interval(hits: int, rows: int, confidence: float = CONFIDENCE) -> list[float] | None:
    """The Wilson score interval of the share ``hits / rows``; None for no rows."""
    if rows <= 0:
        return None
    from scipy.stats import binomtest  # half a second to import: only when measured

    ci = binomtest(hits, rows).proportion_ci(confidence_level=confidence, method="wilson")
    return [float(ci.low), float(ci.high)]


def _kind(frauds: int, rows: int) -> str:
    return "fraud" if frauds == rows else "legit" if frauds == 0 else "mixed"


def segment_table(
    y: np.ndarray, segments: Sequence[str | None], decisions: Mapping[str, np.ndarray],
    accounts: np.ndarray | None = None,
) -> dict[str, dict[str, Any]]:
    """Per segment of the rows (rows without one are left out): its label (``fraud``,
    ``legit`` or ``mixed``), rows, frauds and, given each row's account (``accounts``), the
    accounts among them (else None); and for each system in ``decisions`` (0 accept, 1 review,
    2 reject per row) the flagged share with its interval, the rejected share, and the flagged
    shares of its frauds and of its legit rows apart (None where it has none). The Wilson
    interval takes the rows as independent: a segment of many rows from few accounts (a
    card-testing run) is less certain than it says, which the accounts show.

    Fraud-only segments come first, then mixed ones, then legit-only ones; the most rows first
    within each."""
    where: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(segments):
        if name is not None:
            where[name].append(i)
    rank = {"fraud": 0, "mixed": 1, "legit": 2}
    entries = []
    for name, rows in where.items():
        idx = np.asarray(rows, dtype=np.int64)
        n, frauds = int(idx.size), int(y[idx].sum())
        fraud = y[idx] == 1
        systems = {}
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
        distinct = int(np.unique(accounts[idx]).size) if accounts is not None else None
        entries.append(((rank[kind], -n, name), name,
                        {"label": kind, "rows": n, "frauds": frauds, "accounts": distinct,
                         "systems": systems}))
    return {name: entry for _, name, entry in sorted(entries)}
