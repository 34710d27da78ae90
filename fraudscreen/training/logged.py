"""Labelled training rows from the live store: the features the service logged, plus outcomes.

Every screened order keeps the model features and rule hits it was screened with
(:func:`fraudscreen.features.feature_log`). :func:`export_labelled` writes them with a label
as JSON Lines; :func:`read_logged` turns such a file into a
:class:`~fraudscreen.training.pipeline.ReplayResult`, so ``train``, ``backtest`` and the
notebooks use it like a replay. No replay is needed: the live service computed each row at
the order's time, from the history it had then (point-in-time correct by construction). The
file holds no identifiers: no account, email, IP, device or card, only an order id.

Labels: the order's latest outcome ``chargeback`` or ``fraud`` makes it ``fraud`` (label time =
when reported); ``not_fraud`` or ``refund`` makes it ``legit``; an order without an outcome is
``legit`` once ``label_delay`` has passed since it happened, and left out before (its label
may still come).
"""

from __future__ import annotations

import math
import operator
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from fraudscreen.enrich.card import find_card_numbers
from fraudscreen.errors import DataFileError, MixedRowsError, ModelError
from fraudscreen.features import FEATURE_NAMES, FEATURE_SCHEMA
from fraudscreen.rules import RuleHit, RuleSet
from fraudscreen.rules.engine import ACTIONS, RULE_ID
from fraudscreen.schema import rfc3339, rfc3339_text
from fraudscreen.training.jsonl import replace_jsonl
from fraudscreen.training.segments import SEGMENT_FIELDS, segment_name

FRAUD_OUTCOMES = frozenset({"chargeback", "fraud"})
"""Latest outcomes that label an order ``fraud``."""
LEGIT_OUTCOMES = frozenset({"not_fraud", "refund"})
"""Latest outcomes that label an order ``legit``."""
_LABELS = {"fraud": 1, "legit": 0}
FORMAT = "fraudscreen-logged-features"
"""The ``format`` field of every exported row."""


@dataclass(frozen=True)
class ExportSummary:
    """What :func:`export_labelled` wrote and what it left out."""

    rows: int
    fraud: int
    legit: int
    too_recent: int
    """Orders without an outcome that happened less than ``label_delay`` ago."""
    other_schema: int
    """Orders logged by a fraudscreen with other model features (replay their requests)."""


def label_of(outcome: str | None, event_time: datetime, *, now: datetime,
             label_delay: timedelta) -> str | None:
    """``fraud``, ``legit`` or None (no outcome yet and too recent to call it legit)."""
    if outcome in FRAUD_OUTCOMES:
        return "fraud"
    if outcome in LEGIT_OUTCOMES:
        return "legit"
    return "legit" if event_time + label_delay <= now else None


def export_labelled(
    store: Any,
    out: Path,
    *,
    now: datetime | None = None,
    label_delay: timedelta = timedelta(days=30),
    since: datetime | None = None,
    until: datetime | None = None,
) -> ExportSummary:
    """Write the labelled orders of ``store`` (a SQL :class:`~fraudscreen.store.Store`) to ``out``."""
    now = now or datetime.now(UTC)
    counts: Counter[str] = Counter()

    def rows() -> Iterable[dict[str, Any]]:
        for order in store.logged_orders(since=since, until=until):
            logged = order.features
            if logged.get("schema") != FEATURE_SCHEMA or len(logged.get("x", ())) != len(FEATURE_NAMES):
                counts["other_schema"] += 1
                continue
            label = label_of(order.outcome, order.event_time, now=now, label_delay=label_delay)
            if label is None:
                counts["too_recent"] += 1
                continue
            counts[label] += 1
            label_time = order.outcome_at if order.outcome is not None else order.event_time + label_delay
            yield {"format": FORMAT, "order_id": order.order_id,
                   **training_fields(order.event_time, label, label_time, logged)}

    written = replace_jsonl(rows(), out)  # a failure keeps the previous file
    return ExportSummary(written, counts["fraud"], counts["legit"], counts["too_recent"],
                         counts["other_schema"])


def training_fields(event_time: datetime | float, label: str, label_time: datetime | float | None,
                    logged: Mapping[str, Any]) -> dict[str, Any]:
    """A training row's ``event_time``, ``label``, ``label_time``, ``features``, ``rules`` and,
    when a rule failed at run time, ``rule_errors``, from an order's feature log
    (:func:`~fraudscreen.features.feature_log`); times are aware datetimes or seconds since
    the epoch."""
    row = {
        "event_time": rfc3339_text(event_time),
        "label": label,
        "label_time": rfc3339_text(label_time) if label_time is not None else None,
        "features": dict(zip(FEATURE_NAMES, logged["x"], strict=True)),
        "rules": [{"id": rule_id, "action": action} for rule_id, action in logged.get("rules", ())],
    }
    if logged.get("rule_errors"):  # rules that failed at run time on the order
        row["rule_errors"] = [{"id": rule_id, "action": action} for rule_id, action in logged["rule_errors"]]
    return row


def is_logged_row(row: Any) -> bool:
    """True for a row written by :func:`export_labelled` (not a score request)."""
    return isinstance(row, Mapping) and row.get("format") == FORMAT


def read_logged(rows: Iterable[Any], *, rules: RuleSet | None = None,
                label_delay: timedelta | None = None) -> Any:
    """A :class:`~fraudscreen.training.pipeline.ReplayResult` from exported rows, oldest first.

    Streams: ``rows`` may be a file iterator; features are packed into arrays as they come.
    Rows without every current feature (an export from an older fraudscreen), with a bad label,
    time, ``label_time`` or ``rules`` list, a feature value that is not a number or null, and
    values that are not objects, are skipped and counted (``skipped_why``); if none is left,
    :class:`ModelError` says why. A fraud row without a ``label_time`` is known from its order
    time plus ``label_delay`` (default ``prepare.DEFAULT_LABEL_DELAY``), as in the replay.

    Rows a back-test saved (:mod:`.saved_replay`) also give their transaction ids, segments
    and how they were replayed (``ReplayResult.saved``); :class:`DataFileError` when they were
    replayed with other features, or the file mixes them with rows of another replay or of an
    export.
    """
    from fraudscreen.training.pipeline import NOT_OBJECT, REPEATED_TRANSACTION, ReplayResult
    from fraudscreen.training.prepare import (
        BAD_LABEL,
        BAD_LABEL_TIME,
        DEFAULT_LABEL_DELAY,
        NO_EVENT_TIME,
    )

    started = time.perf_counter()
    delay = (DEFAULT_LABEL_DELAY if label_delay is None else label_delay).total_seconds()
    known = {r.id: r for r in rules.rules} if rules is not None else {}
    values = operator.itemgetter(*FEATURE_NAMES)
    blocks: list[np.ndarray] = []
    pending: list[tuple[Any, ...]] = []
    bad: list[int] = []  # kept rows (by position) whose feature values are not numbers
    times: list[float] = []
    labels: list[int] = []
    known_at: list[float] = []
    ids: list[str] = []
    hits: list[tuple[RuleHit, ...]] = []
    failed: list[tuple[RuleHit, ...]] = []
    sources: list[int] = []
    transaction_ids: list[str | None] = []
    segments: list[str | None] = []
    accounts: list[int] = []  # a saved replay's account numbers; -1: none given
    saved: Any = _UNSEEN  # how the rows were replayed: the first row's ``replayed``
    seen: set[str] = set()  # the order ids (export) or transaction ids (saved replay) so far
    missing: Counter[str] = Counter()
    why: Counter[str] = Counter()
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            why[NOT_OBJECT] += 1
            continue
        if (how := row.get("replayed")) != saved:
            saved = _same_replay(saved, how, index)
        features, raw_label, rule_hits = row.get("features"), row.get("label"), row.get("rules", [])
        label = _LABELS.get(raw_label) if isinstance(raw_label, str) else None
        at = _timestamp(row.get("event_time"))
        raw_label_time = row.get("label_time")
        if raw_label_time is None:  # known from the order time plus the delay, as in the replay
            label_at = None if at is None else at + delay
        else:
            label_at = _timestamp(raw_label_time)
        if label is None:
            why[BAD_LABEL] += 1
        elif at is None:
            why[NO_EVENT_TIME] += 1
        elif label_at is None:  # checked on every row, as the replay does
            why[BAD_LABEL_TIME] += 1
        elif not _rule_hits_valid(rule_hits, row.get("rule_errors")):
            why[_BAD_RULES] += 1
        elif not isinstance(features, Mapping):
            why[_NO_FEATURES] += 1
        else:
            key = row.get("transaction_id") if saved is not None else row.get("order_id")
            if isinstance(key, str) and key in seen:  # a file read twice, overlapping exports
                why[REPEATED_TRANSACTION if saved is not None else _REPEATED_ORDER] += 1
                continue
            try:
                pending.append(values(features))
            except KeyError:
                missing.update(n for n in FEATURE_NAMES if n not in features)
                why[_NO_FEATURES] += 1
                continue
            if isinstance(key, str):
                seen.add(key)
            times.append(at)
            labels.append(label)
            known_at.append(max(label_at, at) if label else math.nan)
            ids.append(str(row.get("order_id", "")))
            hits.append(tuple(_hit(h, known) for h in rule_hits))
            errors = row.get("rule_errors")  # rules that failed at run time on the order
            failed.append(tuple(_hit(h, known) for h in errors) if errors else ())
            sources.append(index)
            if saved is not None:
                transaction_ids.append(_text_or_none(row.get("transaction_id")))
                segments.append(segment_name(row.get("segment")))
                accounts.append(_account_number(row.get("account")))
            if len(pending) >= _BLOCK_ROWS:
                blocks.append(_block(pending, len(times) - len(pending), bad))
                pending = []
    blocks.append(_block(pending, len(times) - len(pending), bad))
    if saved is _UNSEEN:
        saved = None
    if bad:
        why[_NOT_NUMBERS] += len(bad)
    if len(times) == len(bad):
        lack = f"; they lack the features {sorted(missing)[:5]}" if missing else ""
        reasons = ", ".join(f"{n} {reason}" for reason, n in why.most_common())
        raise ModelError(f"no usable logged rows ({sum(why.values())} skipped: {reasons or 'none read'}"
                         f"{lack})")
    order = np.lexsort((np.asarray(sources), np.asarray(times)))  # by time, then file order
    if bad:
        keep = np.ones(len(times), dtype=bool)
        keep[bad] = False
        order = order[keep[order]]
    return ReplayResult(
        X=np.vstack(blocks)[order],
        y=np.asarray(labels, dtype=np.int8)[order],
        event_times=np.asarray(times, dtype=np.float64)[order],
        order_ids=[ids[i] for i in order],
        skipped=sum(why.values()),
        rule_hits=[hits[i] for i in order],
        rule_errors=[failed[i] for i in order],
        transaction_ids=[transaction_ids[i] for i in order] if saved else [None] * int(order.size),
        source_rows=np.asarray(sources, dtype=np.int64)[order],
        rules_version=saved.get("rules_version") if saved else None,
        seconds=time.perf_counter() - started,
        logged=True,
        label_times=np.asarray(known_at, dtype=np.float64)[order],
        skipped_why=dict(why),
        segments=[segments[i] for i in order] if saved and saved.get("segment_by") else [],
        segment_by=saved["segment_by"] if saved and saved.get("segment_by") else "scenario",
        saved=saved,
        accounts=_accounts(accounts, order) if saved else np.empty(0, dtype=np.int64),
        label_delay_days=float(saved["label_delay_days"]) if saved else delay / 86_400.0,
    )


_MAX_ACCOUNT_NUMBER = 2**53
"""Above any number of accounts a replay could number, and within a 64-bit integer."""


def _account_number(value: Any) -> int:
    """A saved row's ``account`` number; -1 when it gives none (a file saved before they were)
    or not one a replay writes (a negative or huge number, text)."""
    return value if type(value) is int and 0 <= value < _MAX_ACCOUNT_NUMBER else -1


def _accounts(numbers: list[int], order: np.ndarray) -> np.ndarray:
    """The kept rows' account numbers in ``order``, a row without one an account of its own;
    empty when no row gives one (the intervals then resample rows)."""
    from fraudscreen.training.pipeline import number_rows_without_account

    accounts = np.asarray(numbers, dtype=np.int64)[order]
    if not accounts.size or (accounts < 0).all():
        return np.empty(0, dtype=np.int64)
    return number_rows_without_account(accounts, int(accounts.max()) + 1)


_BLOCK_ROWS = 8192
_BAD_RULES = "with a rules or rule_errors value that is not a list of rule ids and actions"
_NO_FEATURES = "lacking features"
_NOT_NUMBERS = "with a feature value that is not a number or null, negative, or beyond 1e15"
_REPEATED_ORDER = "repeating an order_id"
_LARGEST = 1e15
"""The largest feature value read (amounts reach 1e13 in their currency): beyond it, or
infinite, a value is not one the service computed, and would overflow the report's sums."""
_NUMBER_TYPES = frozenset((int, float, type(None)))
_UNSEEN = object()
"""No row read yet: the first row's ``replayed`` (None for an export) is the file's."""


def _same_replay(saved: Any, how: Any, index: int) -> Any:
    """The ``replayed`` of the file, checked on a row (``index``) whose differs from ``saved``:
    DataFileError when it is not the first row, or its features are not the current ones."""
    if saved is not _UNSEEN:
        if isinstance(how, Mapping) and isinstance(saved, Mapping):
            differ = sorted(k for k in {*how, *saved} if how.get(k) != saved.get(k))
            source = f"another replay than the first (its {', '.join(differ)} differ)"
        else:
            source = f"{_kind(how)} but the first from {_kind(saved)}"
        raise MixedRowsError(index, f"comes from {source}; keep each replay or export in its "
                                    "own file")
    if how is not None:
        if not isinstance(how, Mapping):
            raise DataFileError("the first row's 'replayed' is not what `backtest --save-replay` writes")
        if how.get("feature_schema") != FEATURE_SCHEMA:
            raise DataFileError("these rows were replayed by a fraudscreen with other model features; "
                                "replay the score requests again")
        version = how.get("rules_version")
        if version is not None and not (isinstance(version, str) and 0 < len(version) <= _MAX_TEXT
                                        and segment_name(version) == version):
            raise DataFileError("the rows' rules_version must be a rules file's version, as "
                                "`backtest --save-replay` writes it (text without an e-mail "
                                "address, a card number or a control character)")
        if how.get("segment_by") not in (None, *SEGMENT_FIELDS):
            raise DataFileError(f"the rows' segment_by must be one of {', '.join(SEGMENT_FIELDS)}")
        skipped = how.get("rows_skipped")  # absent in replays saved before it was kept
        if skipped is not None and (not isinstance(skipped, int) or isinstance(skipped, bool)
                                    or skipped < 0):
            raise DataFileError("the rows' rows_skipped must be a count of rows, as "
                                "`backtest --save-replay` writes it")
        days = how.get("label_delay_days")
        if not isinstance(days, (int, float)) or isinstance(days, bool) or not 0.0 <= days < math.inf:
            raise DataFileError("the rows' label_delay_days must be a number of days, as "
                                "`backtest --save-replay` writes it")
    return how


def _kind(how: Any) -> str:
    return "an `export-training` file" if how is None else "a saved replay"


_MAX_TEXT = 200
"""Longest transaction id or segment read from a saved replay (a longer one counts as none)."""


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and len(value) <= _MAX_TEXT else None


def _timestamp(value: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (:func:`~fraudscreen.schema.rfc3339`, the
    parser of the score endpoint and the replay); None when it is not one."""
    try:
        return rfc3339(value).timestamp()
    except ValueError:
        return None


def _block(rows: list[tuple[Any, ...]], first: int, bad: list[int]) -> np.ndarray:
    """The rows as a float array (null -> NaN). A row with a value that is not a JSON number
    (a string, a boolean, a list), or is negative (no feature is: amounts, counts, ages,
    distances, flags; a negative amount made the money figures negative), infinite or beyond
    :data:`_LARGEST`, becomes NaN and its position joins ``bad``."""
    width = len(FEATURE_NAMES)
    if not rows:
        return np.empty((0, width))
    wrong = [i for i, row in enumerate(rows) if not _NUMBER_TYPES.issuperset(map(type, row))]
    if wrong:
        rows = list(rows)
        for i in wrong:
            rows[i] = (None,) * width
    try:
        block = np.array(rows, dtype=np.float64)
    except OverflowError:  # an int beyond any float
        block = np.array([[_float_or_inf(v) for v in row] for row in rows], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        out_of_range = np.flatnonzero(((block < 0) | (block > _LARGEST)).any(axis=1))
    wrong = sorted({*wrong, *out_of_range.tolist()})
    block[wrong] = np.nan
    bad.extend(first + i for i in wrong)
    return block


def _float_or_inf(value: float | None) -> float:
    """A feature value as a float: null NaN, an int too large for a float infinite."""
    try:
        return math.nan if value is None else float(value)
    except OverflowError:
        return math.inf


def _rule_hits_valid(hits: Any, errors: Any) -> bool:
    """True when ``hits`` is a list, and ``errors`` one or absent, of ``{"id", "action"}`` as a
    replay writes them: an id a rules file could hold (printed and written to every output of a
    back-test: not an e-mail address, not a card number) and one of the rule actions."""
    return isinstance(hits, list) and (errors is None or isinstance(errors, list)) and all(
        isinstance(h, Mapping) and isinstance(h.get("id"), str) and _rule_id_readable(h["id"])
        and h.get("action", "signal") in ACTIONS for h in (*hits, *(errors or ())))


@lru_cache(maxsize=1024)  # a file holds a few dozen rule ids, on up to millions of rows
def _rule_id_readable(rule_id: str) -> bool:
    return bool(RULE_ID.fullmatch(rule_id)) and not find_card_numbers(rule_id)


def _hit(entry: Mapping[str, Any], known: Mapping[str, Any]) -> RuleHit:
    rule_id = str(entry.get("id", ""))
    rule = known.get(rule_id)
    action = str(entry.get("action", "signal"))
    code = rule.code if rule is not None else rule_id.upper()
    return RuleHit(rule_id, code, action, rule.message if rule is not None else "")  # type: ignore[arg-type]


__all__ = [
    "FORMAT", "FRAUD_OUTCOMES", "LEGIT_OUTCOMES", "ExportSummary", "export_labelled",
    "is_logged_row", "label_of", "read_logged", "training_fields",
]
