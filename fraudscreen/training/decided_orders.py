"""One CSV line per test row of a back-test: what each system decided on it, and why.

The report says how many frauds a rule or the model would have caught; this file says which,
so an analyst can read the missed frauds and the good orders a candidate rule would stop
(``fraudscreen backtest --test-orders FILE``). Columns in ``docs/backtest.md``.

It holds the shop's own ids (``transaction_id``, or the stored ``order_id`` for an
``export-training`` file) and the row's line in the input file, never an e-mail, address, IP or
card: the input file is where an order's details are. An id that holds an e-mail address or a
card number (a shop may build ids from anything) is written as :data:`WITHHELD`.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from fraudscreen.enrich.card import find_card_numbers
from fraudscreen.enrich.email import EMAIL_IN_TEXT
from fraudscreen.features import FEATURE_INDEX
from fraudscreen.files import open_text, replace_file
from fraudscreen.schema import rfc3339_text
from fraudscreen.training.backtest import Backtest
from fraudscreen.training.capacity import DECISIONS

__all__ = ["OUTCOMES", "decided_columns", "decided_rows", "write_decided_orders"]

OUTCOMES = ("fraud_caught", "fraud_missed", "legit_flagged", "legit_accepted")
"""A row's ``outcome``: its label, and whether the system sent it to review or reject."""
_AMOUNT = FEATURE_INDEX["amount_usd"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""How a spreadsheet formula may start: text from the input that does is written after a
``'`` (OWASP's advice against CSV injection), so opening the file never runs it."""


def decided_columns(backtest: Backtest) -> list[str]:
    """The header: fixed columns, the segment's (named after ``segment_by``) when the rows have
    segments, and the compared bundle's when there is one."""
    columns = ["line", "transaction_id", "order_id", "event_time", "amount_usd", "label"]
    if _segments(backtest) is not None:
        columns.append(backtest.trained.replayed.segment_by.replace("-", "_"))
    columns += ["probability", "rules_decision", "model_decision", "decision", "outcome", "rules"]
    if backtest.compared is not None:
        columns += ["compare_probability", "compare_model_decision", "compare_decision",
                    "compare_outcome"]
    return columns


def decided_rows(backtest: Backtest, line_numbers: Sequence[int] | np.ndarray | None = None
                    ) -> Iterator[list[str]]:
    """The test rows in event-time order, as :func:`decided_columns` names their values.

    ``line_numbers``: the line of the input file each of its non-empty lines is on
    (:func:`~fraudscreen.training.jsonl.line_numbers`); without it ``line`` counts the
    non-empty lines from 1.
    """
    trained, systems, compared = backtest.trained, backtest.systems, backtest.compared
    replayed, idx = trained.replayed, trained.test_idx
    segments = _segments(backtest)
    order = np.argsort(replayed.event_times[idx], kind="stable")
    for k in order:
        i = int(idx[k])
        source = int(replayed.source_rows[i]) if replayed.source_rows.size else i
        fraud = bool(replayed.y[i])
        row = [
            str(line_numbers[source] if line_numbers is not None else source + 1),
            _id(replayed.transaction_ids[i] if replayed.transaction_ids else None),
            _id(replayed.order_ids[i] if replayed.logged else None),
            rfc3339_text(float(replayed.event_times[i])),
            _usd(float(replayed.X[i, _AMOUNT])),
            "fraud" if fraud else "legit",
        ]
        if segments is not None:
            row.append(_text(segments[i]))
        row += [
            repr(float(systems["model"].score[k])),
            DECISIONS[systems["rules"].decisions[k]],
            DECISIONS[systems["model"].decisions[k]],
            DECISIONS[systems["combined"].decisions[k]],
            _outcome(fraud, int(systems["combined"].decisions[k])),
            " ".join(hit.rule_id for hit in replayed.rule_hits[i]) if replayed.rule_hits else "",
        ]
        if compared is not None:
            row += [
                repr(float(compared["model"].score[k])),
                DECISIONS[compared["model"].decisions[k]],
                DECISIONS[compared["combined"].decisions[k]],
                _outcome(fraud, int(compared["combined"].decisions[k])),
            ]
        yield row


def write_decided_orders(path: Path, backtest: Backtest,
                      line_numbers: Sequence[int] | np.ndarray | None = None) -> int:
    """Write the test rows to ``path`` as CSV (``.gz``: compressed), whole or not at all; how
    many rows were written. OSError when it cannot be written."""

    def write(partial: Path) -> int:
        written = 0
        with open_text(partial, "w") as fh:
            out = csv.writer(fh, lineterminator="\n")
            out.writerow(decided_columns(backtest))
            for row in decided_rows(backtest, line_numbers):
                out.writerow(row)
                written += 1
        return written

    return replace_file(path, write)


def _segments(backtest: Backtest) -> list[str | None] | None:
    segments = backtest.trained.replayed.segments
    return segments if any(s is not None for s in segments) else None


def _outcome(fraud: bool, decision: int) -> str:
    flagged = decision >= 1
    if fraud:
        return OUTCOMES[0] if flagged else OUTCOMES[1]
    return OUTCOMES[2] if flagged else OUTCOMES[3]


def _usd(amount: float) -> str:
    return "" if math.isnan(amount) else f"{amount:.2f}"


WITHHELD = "[withheld]"
"""What an id holding an e-mail address or a card number is written as."""


def _id(value: str | None) -> str:
    if value and (EMAIL_IN_TEXT.search(value) or find_card_numbers(value)):
        return WITHHELD
    return _text(value)


def _text(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value
