"""Labelled JSON Lines -> point-in-time replay through the screening code -> model bundle.

Every order is screened in event-time order against a fresh temporary store, so its
features are exactly those the live service would have computed: the account profile holds
only earlier orders, and a fraud label counts (as a chargeback) only from its ``label_time``.
"""

from __future__ import annotations

import hashlib
import heapq
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from fraudscreen.config import Settings
from fraudscreen.enrich import GeoIP
from fraudscreen.errors import InvalidRequestError
from fraudscreen.features import FEATURE_NAMES
from fraudscreen.rules import RuleSet
from fraudscreen.schema import parse_order, parse_time
from fraudscreen.screening import Parts, Screener
from fraudscreen.store import Store
from fraudscreen.training.card import write_model_card
from fraudscreen.training.jsonl import iter_jsonl
from fraudscreen.training.train import TrainResult, train_model

FRAUD_OUTCOME = "chargeback"
"""How a fraud label enters the profile once its label time has passed."""


@dataclass(frozen=True)
class ReplayResult:
    """Feature rows of the replayed orders, in event-time order."""

    X: np.ndarray
    y: np.ndarray
    event_times: np.ndarray  # seconds since the epoch
    order_ids: list[str]
    skipped: int


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read labelled orders (JSON Lines, optionally ``.gz``)."""
    return list(iter_jsonl(path))


def _event_time(row: dict[str, Any]) -> datetime:
    return parse_time(row["event"]["time"], "/event/time")


def replay(
    rows: Iterable[dict[str, Any]], *, settings: Settings, progress: bool = False
) -> ReplayResult:
    """Screen labelled rows in event-time order on a fresh temporary store; collect features."""
    ordered = sorted(rows, key=_event_time)
    with tempfile.TemporaryDirectory(prefix="fraudscreen-replay-") as tmp:
        replay_settings = settings.with_overrides(
            data_dir=tmp, database_url=f"sqlite:///{tmp}/replay.db"
        )
        store = Store(replay_settings.resolved_database_url)
        store.upgrade()
        parts = Parts(
            store=store,
            geoip=GeoIP(settings.geoip_city_path, settings.geoip_asn_path,
                        settings.geoip_anonymous_ip_path),
            model=None,
            rules=RuleSet.load(settings.resolved_rules_path),
        )
        screener = Screener(replay_settings, parts)
        pending: list[tuple[datetime, int, str]] = []  # (label time, seq, order id)
        features, labels, times, ids = [], [], [], []
        skipped = 0
        for seq, row in enumerate(tqdm(ordered, disable=None if progress else True, unit="order")):
            label = row.get("label")
            body = {k: v for k, v in row.items() if k not in ("label", "label_time")}
            try:
                order, _ = parse_order(body)
            except InvalidRequestError:
                skipped += 1
                continue
            at = order.event.time
            while pending and at is not None and pending[0][0] <= at:
                label_time, _, order_id = heapq.heappop(pending)
                store.record_outcome(order_id, FRAUD_OUTCOME, label_time)
            evaluation = screener.evaluate(order, received_at=at)
            record = evaluation.record
            store.save_order(record)
            features.append(evaluation.features)
            labels.append(1 if label == "fraud" else 0)
            times.append(record.event_time.timestamp())
            ids.append(record.order_id)
            if label == "fraud":
                label_time = (
                    parse_time(row["label_time"], "/label_time") if row.get("label_time") else at
                )
                heapq.heappush(pending, (label_time, seq, record.order_id))
        store.close()
    return ReplayResult(
        X=np.vstack(features) if features else np.empty((0, len(FEATURE_NAMES))),
        y=np.asarray(labels, dtype=np.int8),
        event_times=np.asarray(times),
        order_ids=ids,
        skipped=skipped,
    )


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes: the training-data hash kept in the bundle."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def train_from_file(
    data_path: Path,
    out_dir: Path,
    *,
    settings: Settings,
    version: str | None = None,
    seed: int = 0,
    review_capacity: float = 0.05,
    min_reject_precision: float = 0.95,
    progress: bool = True,
) -> TrainResult:
    """Replay ``data_path``, train on the earliest rows, measure on the latest, save the bundle."""
    data_hash = file_sha256(data_path)
    replayed = replay(read_jsonl(data_path), settings=settings, progress=progress)
    result = train_model(
        replayed.X,
        replayed.y,
        FEATURE_NAMES,
        event_times=replayed.event_times,
        version=version or f"hgb-{data_hash[:12]}",
        data_sha256=data_hash,
        seed=seed,
        review_capacity=review_capacity,
        min_reject_precision=min_reject_precision,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    result.bundle.save(out_dir / "model.joblib")
    write_model_card(result, out_dir, data_path=data_path, skipped=replayed.skipped)
    return result
