"""Labelled JSON Lines -> point-in-time replay through the screening code -> feature rows.

Every order is screened in event-time order by the real :class:`~fraudscreen.screening.Screener`,
in its two halves: :func:`~fraudscreen.prepared.prepare_order` (validation and enrichment, in
worker processes: :mod:`.prepare`) and ``assess(..., build_response=False)`` (history,
profile, features, rules, here) against a fresh store, by default the in-memory
:class:`~fraudscreen.training.memory_store.MemoryStore` (``store="sql"`` replays through a
temporary SQLite database instead; both give the same features). Features are exactly those
the live service would have computed: the account profile holds only earlier orders, and a
fraud label counts (as a chargeback) only from its ``label_time`` (default: the order's event
time plus ``label_delay``), never earlier. The replay screens without a model: features never
depend on it (decision-derived profile fields are not model features), so predictions are made
afterwards in one batch. Training on the replayed rows is :mod:`.retrain`.
"""

from __future__ import annotations

import gc
import hashlib
import heapq
import math
import sys
import tempfile
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sized
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm import tqdm

from fraudscreen.config import Settings
from fraudscreen.enrich import GeoIP
from fraudscreen.errors import (
    ConfigError,
    DataFileError,
    FraudscreenError,
    InvalidRequestError,
    MixedRowsError,
)
from fraudscreen.features import FEATURE_NAMES
from fraudscreen.parts import rule_failed_reason
from fraudscreen.rules import RuleHit, RuleSet
from fraudscreen.rules.engine import rule_errors_not_logged
from fraudscreen.schema import parse_time
from fraudscreen.screening import Parts, Screener
from fraudscreen.training.heap import release_free_memory
from fraudscreen.training.jsonl import iter_jsonl, iter_jsonl_lines, iter_jsonl_raw
from fraudscreen.training.memory_store import MemoryStore
from fraudscreen.training.prepare import (
    DEFAULT_LABEL_DELAY,
    NO_EVENT_TIME,
    JsonRow,
    RowPreparer,
    RowPreparers,
    default_workers,
)
from fraudscreen.training.segments import SegmentBy

FRAUD_OUTCOME = "chargeback"
"""How a fraud label enters the profile once its label time has passed."""
Split = Literal["time", "random"]
Labels = Literal["all", "known_at_test_start"]
YOUNG_GC_EVERY = 10_000
"""Orders between two collections of the young generations during a replay, each followed by
returning the memory of the rows let go meanwhile to the system (:mod:`.heap`)."""

ROWS_DESCRIBED = {"replay": "replayed", "saved": "saved replayed", "logged": "logged"}
"""The rows of each ``ReplayResult.method`` (the report's ``replay.method``), in a sentence."""

# Why a row was skipped: the phrases of ``ReplayResult.skipped_why`` (read after a count).
NOT_OBJECT = "not a JSON object"
REPEATED_TRANSACTION = "repeating an event.transaction_id"
REFUSED_BY_STORE = "refused by the store"


@dataclass(frozen=True)
class ReplayResult:
    """Feature rows of the replayed orders, in event-time order, and what else each row gave."""

    X: np.ndarray
    """Features, one row per replayed order, columns in FEATURE_NAMES order."""
    y: np.ndarray
    """1 for fraud, 0 for legit."""
    event_times: np.ndarray  # seconds since the epoch
    """Event time of each row, seconds since the epoch (non-decreasing)."""
    order_ids: list[str]
    """The ids the screener gave the orders."""
    skipped: int
    """Input rows left out: schema errors, a missing or bad event time, label or label_time,
    or an ``event.transaction_id`` already replayed."""
    rule_hits: list[tuple[RuleHit, ...]] = field(default_factory=list)
    """Rules that fired on each row (without a model score: rules reading ``model`` see -1)."""
    rule_errors: list[tuple[RuleHit, ...]] = field(default_factory=list)
    """Rules that failed at run time on each row (the service reviews an order whose review or
    reject rule fails); for logged rows those the live service logged."""
    transaction_ids: list[str | None] = field(default_factory=list)
    """Each row's ``event.transaction_id``."""
    source_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """Index of each replayed row in the input sequence."""
    rules_version: str | None = None
    """Version of the rules file evaluated (None when the rows are logged features)."""
    logged: bool = False
    """True when the rows were read as features instead of replayed: those the live service
    logged (``export-training``), or those of a saved replay (``saved``)."""
    seconds: float = 0.0
    """Wall time of the replay (sorting, validation and screening)."""
    label_times: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.float64))
    """When each fraud row's label became known, seconds since the epoch (NaN for legit rows);
    empty when unknown."""
    skipped_why: Mapping[str, int] = field(default_factory=dict)
    """Why rows were skipped: a short phrase (``"with an invalid label_time"``) -> how many;
    the counts add up to ``skipped``."""
    workers: int = 0
    """Worker processes that validated and enriched the rows (0: the replay's own process)."""
    segments: list[str | None] = field(default_factory=list)
    """Each row's segment (:func:`~fraudscreen.training.segments.segment_of`; None when the
    row does not say); empty for logged rows."""
    segment_by: SegmentBy = "scenario"
    """What gave the rows their segments (one of
    :data:`~fraudscreen.training.segments.SEGMENT_FIELDS`)."""
    saved: Mapping[str, Any] | None = None
    """How the rows were replayed, when they were read from a saved replay
    (:mod:`~fraudscreen.training.saved_replay`): its ``replayed`` field."""
    accounts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """Each row's account as a number local to this replay (rows of one account share it, a row
    naming no account has one of its own), so that intervals resample accounts rather than
    rows (:func:`~fraudscreen.training.intervals.bootstrap`); empty for rows read as features,
    whose files name no account."""
    label_delay_days: float = DEFAULT_LABEL_DELAY / timedelta(days=1)
    """The label delay of the rows: a fraud label without ``label_time`` became known this many
    days after its order (and entered the later orders' profiles then), and an order is known
    to be legit once this many days have passed without a fraud label."""

    @property
    def skipped_before_saving(self) -> int | None:
        """For a saved replay: the rows of the file it was replayed from that the replay skipped
        (None for other rows, and for a saved replay written before it kept the count)."""
        return self.saved.get("rows_skipped") if self.saved else None

    def deciding_hits(self) -> list[tuple[RuleHit, ...]]:
        """Each row's rule hits as the service decides on them: a review or reject rule that
        failed at run time made the service review the order (never accept it silently), as
        a review hit does, so it is added as one (code ``RULE_FAILED``). The hits themselves,
        for the rule table, are :attr:`rule_hits`."""
        if not any(self.rule_errors):
            return self.rule_hits
        return [hits + tuple(_failed_as_review(f) for f in failed if f.action in ("review", "reject"))
                for hits, failed in zip(self.rule_hits, self.rule_errors, strict=True)]

    @property
    def method(self) -> Literal["replay", "saved", "logged"]:
        """``replay``: replayed now; ``saved``: read from a saved replay; ``logged``: read from
        an ``export-training`` file (the features the live service logged)."""
        return "replay" if not self.logged else "saved" if self.saved else "logged"

    @property
    def described(self) -> str:
        """``replayed``, ``saved replayed`` or ``logged``: the rows, in a sentence."""
        return ROWS_DESCRIBED[self.method]


def _failed_as_review(failed: RuleHit) -> RuleHit:
    """A rule that failed as the review it makes the service's decision (its reason)."""
    reason = rule_failed_reason(failed.rule_id)
    return RuleHit(failed.rule_id, reason.code, "review", reason.message)


def skipped_why_by_count(why: Mapping[str, int]) -> dict[str, int]:
    """``why`` (``ReplayResult.skipped_why``), the most frequent reason first."""
    return dict(sorted(why.items(), key=lambda item: (-item[1], item[0])))


def skipped_reasons(why: Mapping[str, int]) -> str:
    """``"2 with a label other than fraud or legit, 1 failing the request schema"``."""
    return ", ".join(f"{n} {reason}" for reason, n in skipped_why_by_count(why).items())


def rows_summary(replayed: ReplayResult) -> str:
    """``"3 usable rows, 2 skipped (2 with a label other than fraud or legit)"``, for errors."""
    why = skipped_reasons(replayed.skipped_why)
    if not replayed.y.size and not replayed.skipped:
        return "the file holds no rows"
    usable = f"{replayed.y.size} usable row{'' if replayed.y.size == 1 else 's'}"
    return f"{usable}, {replayed.skipped} skipped" + (f" ({why})" if why else "")


def read_jsonl(path: Path) -> list[Any]:
    """Read labelled orders (JSON Lines, optionally ``.gz``); DataFileError if it cannot be read."""
    return list(iter_jsonl(path))


def _sort_key(row: Any) -> datetime | None:
    if isinstance(row, JsonRow):
        return row.event_time
    try:
        return parse_time(row["event"]["time"], "/event/time")
    except (InvalidRequestError, KeyError, TypeError):
        return None


@contextmanager
def _no_full_collections() -> Iterator[None]:
    """Automatic garbage collection off while a replay runs (the loop collects the young
    generations itself, every :data:`YOUNG_GC_EVERY` orders). A full collection walks every
    object the replay keeps, the input rows and the growing store: at 100,000 rows they took
    about a tenth of the replay (7.8 s of 93 s, timed with ``gc.callbacks``), more the longer
    the file."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _open_store(kind: str, tmp: str) -> Any:
    if kind == "memory":
        return MemoryStore()
    if kind == "sql":
        from fraudscreen.store import Store

        store = Store(f"sqlite:///{tmp}/replay.db")
        store.upgrade()
        return store
    raise ValueError("store must be 'memory' or 'sql'")


def _in_time_order(rows: list[Any], why: Counter[str]) -> list[int]:
    """Indexes of the rows with an event time, in event-time order (equal times keep the input
    order); the others are counted in ``why``."""
    keyed = []
    for i, row in enumerate(rows):
        if (k := _sort_key(row)) is not None:
            keyed.append((k, i))
        else:
            why[NO_EVENT_TIME if isinstance(row, Mapping | JsonRow) else NOT_OBJECT] += 1
    keyed.sort(key=lambda item: item[0])
    return [i for _, i in keyed]


def replay(
    rows: Iterable[dict[str, Any] | JsonRow],
    *,
    settings: Settings,
    progress: bool = False,
    label_delay: timedelta = DEFAULT_LABEL_DELAY,
    store: Literal["memory", "sql"] = "memory",
    workers: int | None = None,
    segment_by: SegmentBy = "scenario",
) -> ReplayResult:
    """Screen labelled rows in event-time order on a fresh store; collect features and rule hits.

    ``rows`` are decoded rows, or the lines of a file as :func:`iter_replay_rows` reads them for
    :func:`load_labelled`, which take a sixth of the memory until they are prepared.

    Rows with a schema error, a missing/invalid event time, a label other than ``fraud`` or
    ``legit``, an invalid ``label_time`` or an ``event.transaction_id`` already replayed (the
    live service answers a repeat with the stored order) are skipped and counted in ``skipped``.
    ``workers`` processes validate and enrich the rows (:func:`~fraudscreen.prepared.prepare_order`)
    while this one reads the history and screens them in event-time order
    (:meth:`~fraudscreen.screening.Screener.assess`); 0 does everything here. The default is
    ``settings.replay_workers``, else :func:`default_workers`. Every choice gives the same rows.
    ``segment_by`` says what gives each row its segment (``ReplayResult.segments``).
    """
    started = time.perf_counter()
    rules = RuleSet.load(settings.resolved_rules_path)
    if workers is None:
        workers = settings.replay_workers
    if workers is None:
        workers = default_workers(len(rows) if isinstance(rows, Sized) else None)
    why: Counter[str] = Counter()
    geoip = GeoIP(settings.geoip_city_path, settings.geoip_asn_path, settings.geoip_anonymous_ip_path)
    if geoip.problems:  # the service would answer "degraded"; a model would learn it silently
        geoip.close()
        raise ConfigError(f"{'; '.join(geoip.problems)}: the replayed orders would lack the "
                          "IP data the service gives them")
    with tempfile.TemporaryDirectory(prefix="fraudscreen-replay-") as tmp, _no_full_collections(), \
            rule_errors_not_logged():  # counted per row and reported once, not logged per order
        replay_settings = settings.with_overrides(data_dir=tmp, database_url=f"sqlite:///{tmp}/r.db")
        db = _open_store(store, tmp)
        screener = Screener(replay_settings, Parts(store=db, geoip=geoip, model=None, rules=rules))
        assess, save, record_outcome = screener.assess, db.save_order, db.record_outcome
        preparers = RowPreparers(RowPreparer(screener.enricher, label_delay, segment_by), workers)
        with preparers:  # the workers are forked before the rows are read (see RowPreparers)
            todo: list[Any] = list(rows)  # the replay's own list: each row goes once prepared
            del rows
            order = _in_time_order(todo, why)
            prepared_rows = preparers.prepare(todo, order)
            pending: list[tuple[datetime, int, str]] = []  # (label time, seq, order id)
            X = np.empty((len(order), len(FEATURE_NAMES)))  # filled row by row: no list to stack
            labels: list[int] = []
            times: list[float] = []
            ids: list[str] = []
            hits: list[tuple[RuleHit, ...]] = []
            failed: list[tuple[RuleHit, ...]] = []
            txs: list[str | None] = []
            sources: list[int] = []
            known_at: list[float] = []
            segments: list[str | None] = []
            accounts = array("q")  # -1: no account (numbered after the loop); 8 bytes a row
            account_numbers: dict[str, int] = {}
            for seq, (index, prepared) in enumerate(
                tqdm(prepared_rows, total=len(order), disable=None if progress else True,
                     unit="order", desc="replay", mininterval=0.5)
            ):
                if seq % YOUNG_GC_EVERY == 0:
                    gc.collect(1)  # cycles the screening made since, if any; never the kept objects
                    release_free_memory()  # the rows sent meanwhile: ~10 MB, ~30 ms for 1 GB
                if isinstance(prepared, str):
                    why[prepared] += 1
                    continue
                label, label_time, ready, segment = prepared
                at = ready.event_time
                while pending and pending[0][0] <= at:
                    reported_at, _, order_id = heapq.heappop(pending)
                    record_outcome(order_id, FRAUD_OUTCOME, reported_at)
                evaluation = assess(ready, received_at=at, build_response=False)
                record = evaluation.record
                try:
                    _stored, created = save(record)
                except FraudscreenError:  # e.g. an empty account id, refused like the live store
                    why[REFUSED_BY_STORE] += 1
                    continue
                if not created:  # a repeated transaction id: live, the stored answer is returned
                    why[REPEATED_TRANSACTION] += 1
                    continue
                X[len(labels)] = evaluation.features
                labels.append(label)
                times.append(at.timestamp())
                ids.append(record.order_id)
                hits.append(evaluation.hits)
                failed.append(evaluation.rule_errors)
                txs.append(record.transaction_id)
                sources.append(index)
                known_at.append(label_time.timestamp() if label else math.nan)
                segments.append(segment)
                account = record.account_id
                accounts.append(account_numbers.setdefault(account, len(account_numbers)) if account else -1)
                if label:  # only a fraud label enters the profile (as a chargeback)
                    heapq.heappush(pending, (label_time, seq, record.order_id))
        db.close()
        geoip.close()
    release_free_memory()  # what is left of the rows, before the caller trains on the result
    X.resize((len(labels), len(FEATURE_NAMES)), refcheck=False)  # the skipped rows' room
    return ReplayResult(
        X=X,
        y=np.asarray(labels, dtype=np.int8),
        event_times=np.asarray(times, dtype=np.float64),
        order_ids=ids,
        skipped=sum(why.values()),
        rule_hits=hits,
        rule_errors=failed,
        transaction_ids=txs,
        source_rows=np.asarray(sources, dtype=np.int64),
        rules_version=rules.version,
        seconds=time.perf_counter() - started,
        label_times=np.asarray(known_at, dtype=np.float64),
        skipped_why=dict(why),
        workers=preparers.workers,
        segments=segments,
        segment_by=segment_by,
        accounts=number_rows_without_account(np.array(accounts, dtype=np.int64), len(account_numbers)),
        label_delay_days=label_delay / timedelta(days=1),
    )


def number_rows_without_account(accounts: np.ndarray, known: int) -> np.ndarray:
    """``accounts`` with each -1 (a row naming no account) given a number of its own after the
    ``known`` accounts' numbers."""
    missing = accounts < 0
    accounts[missing] = known + np.arange(int(missing.sum()))
    return accounts


def load_labelled(
    path: Path,
    *,
    settings: Settings,
    progress: bool = False,
    label_delay: timedelta = DEFAULT_LABEL_DELAY,
    limit: int | None = None,
    segment_by: SegmentBy = "scenario",
    save_replay: Path | None = None,
) -> tuple[ReplayResult, int]:
    """Training rows of a labelled file (its first ``limit`` rows), and how many rows were read.

    Score requests (``simulate`` output, or your own history) are replayed; an export of the
    store's logged features (``fraudscreen export-training``) or a saved replay is read as it
    is: the service computed those features live, or a replay did. The first row tells which
    kind the file is. ``save_replay``: save the replayed rows there
    (:mod:`~fraudscreen.training.saved_replay`) as soon as the replay ends; DataFileError when
    it cannot be written, or when the file holds features already.
    """
    from fraudscreen.training.logged import is_logged_row, read_logged

    first = next(iter_jsonl_lines(path), None)
    if first is not None and not isinstance(first[1], dict):
        raise DataFileError(f"{path}: line {first[0]}: not a JSON object; each line must be "
                            "a labelled score request or an `export-training` row")
    if first is not None and is_logged_row(first[1]):  # streamed: an export can be large
        if save_replay is not None:
            raise DataFileError(f"{path} holds features already: only a replay of score requests "
                                "can be saved")
        numbered = tqdm(islice(iter_jsonl_lines(path), limit), disable=None if progress else True,
                        unit="row", desc="read", mininterval=0.5)
        line = [0]  # the line of the row read last
        try:
            logged = read_logged(_only_logged(numbered, path, line),
                                 rules=RuleSet.load(settings.resolved_rules_path), label_delay=label_delay)
        except MixedRowsError as exc:  # found on the row read last: name its line, not its position
            raise DataFileError(f"{path}: line {line[0]} {exc.reason}") from None
        except DataFileError as exc:  # the reader's own, about the rows: name the file too
            if exc.message.startswith(f"{path}:"):
                raise
            raise DataFileError(f"{path}: {exc.message}") from None
        return logged, int(logged.y.size) + logged.skipped
    # read by the replay itself: it holds the only reference to the rows and lets each go once
    # screened, and its workers are forked before the rows are read (RowPreparers)
    replayed = replay(iter_replay_rows(path, limit), settings=settings, progress=progress,
                      label_delay=label_delay, segment_by=segment_by)
    if save_replay is not None:
        _save(replayed, save_replay, progress)
    return replayed, int(replayed.y.size) + replayed.skipped


def _save(replayed: ReplayResult, path: Path, progress: bool) -> None:
    """Save the replay to ``path`` (before training, so that a training error keeps it)."""
    from fraudscreen.training.saved_replay import write_saved_replay

    if progress:
        tqdm.write(f"Saving the replayed rows to {path} …", file=sys.stderr)
    try:
        write_saved_replay(replayed, path)
    except OSError as exc:
        raise DataFileError(f"cannot write {path} ({exc.strerror or type(exc).__name__}); "
                            "the replay was not saved") from None


def _only_logged(numbered: Iterable[tuple[int, Any]], path: Path, line: list[int]) -> Iterator[Any]:
    """The rows of an export, each row's line number put in ``line[0]`` as it is given;
    DataFileError at an object that is not one (a mixed file)."""
    from fraudscreen.training.logged import is_logged_row

    for number, row in numbered:
        line[0] = number
        if isinstance(row, dict) and not is_logged_row(row):
            what = "a score request" if "event" in row else "not an `export-training` row"
            raise DataFileError(f"{path}: line {number} is {what} but the file started with "
                                "exported features; keep the two kinds in separate files")
        yield row


def iter_replay_rows(path: Path, limit: int | None = None) -> Iterator[JsonRow | Any]:
    """The rows of a file of labelled score requests (its first ``limit``) as :func:`replay`
    keeps them: objects as :class:`~fraudscreen.training.prepare.JsonRow`, anything else as
    it is (the replay counts it). DataFileError at an ``export-training`` row (a mixed file)."""
    from fraudscreen.training.logged import is_logged_row

    for number, raw, row in islice(iter_jsonl_raw(path), limit):
        if is_logged_row(row):
            raise DataFileError(f"{path}: line {number} is an `export-training` row but the file "
                                "started with score requests; keep the two kinds in separate files")
        yield JsonRow(raw, _sort_key(row)) if isinstance(row, dict) else row


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes: the training-data hash kept in the bundle."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise DataFileError(f"{path} cannot be read ({exc.strerror or type(exc).__name__})") from None
    return digest.hexdigest()
