"""Screen one order end to end, without HTTP: validate, enrich, profile, score, decide, persist.

:class:`Screener` is what the API, the CLI and the benchmarks call. It holds the loaded parts
(GeoIP readers, model bundle, rule set, store) and notes which are missing, so that a missing
part, a model that gives no finite probability or a reject/review rule that fails on the
order turns into a ``review`` with a warning instead of an error or a silent accept.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscreen.config import Settings
from fraudscreen.decision import decide
from fraudscreen.enrich import GeoIP
from fraudscreen.errors import (
    CommitUnknownError,
    ConfigError,
    ErrorDetail,
    FraudscreenError,
    InvalidRequestError,
    ModelError,
    StaleHistoryError,
    StoreError,
)
from fraudscreen.features import (
    FEATURE_INDEX,
    FEATURE_NAMES,
    add_history,
    describe_feature,
    feature_log,
    feature_vector,
)
from fraudscreen.idempotency import TransactionReusedError, request_digest
from fraudscreen.ids import new_id
from fraudscreen.installation import key_check, load_or_create_secrets
from fraudscreen.model import ModelBundle, Thresholds, risk_score
from fraudscreen.parts import (
    BAD_OVERRIDES,
    DEGRADED_REASONS,
    Parts,
    close_later,
    load_parts,
    reopen_geoip,
    rule_failed_reason,
)
from fraudscreen.prepared import PreparedOrder, prepare_order
from fraudscreen.profile import AccountHistory, ProfileSnapshot, build_profile
from fraudscreen.result import Reason, ScreeningResult, ScreeningWarning
from fraudscreen.rules import ListEntry, ListMatcher, RuleHit, RuleSet
from fraudscreen.schema import MAX_CLOCK_SKEW, OrderRequest, parse_order
from fraudscreen.signals import Enricher
from fraudscreen.store.interface import ScreeningStore
from fraudscreen.store.records import OrderRecord

if TYPE_CHECKING:
    from fraudscreen.store.sql import Store

log = logging.getLogger(__name__)

LISTS_REFRESH_SECONDS = 1.0
"""How stale another worker's list change may be before this worker sees it."""
SCREEN_ATTEMPTS = 3
"""Screenings of one request when the account's history changes before the order is stored."""
UNKNOWN_IF_STORED = ("The order may not have been stored: the database connection was lost while it "
                     "committed. Send it again with the same transaction id to be sure; the stored "
                     "answer comes back if it was.")
"""The ``not_stored`` warning's message when the database may have stored the order after all."""


@dataclass(frozen=True)
class Screened:
    """The JSON answer to a score request and whether it is a stored answer replayed."""

    response: dict[str, Any]
    replayed: bool


@dataclass(frozen=True)
class Evaluation:
    """One scored order before it is stored: the answer, the record to keep, its features."""

    result: ScreeningResult
    record: OrderRecord
    features: np.ndarray
    """The model's feature vector (:data:`~fraudscreen.features.FEATURE_NAMES` order)."""
    hits: tuple[RuleHit, ...] = ()
    """Every rule that fired, in rule-file order (signals included)."""
    probability: float | None = None
    """The model's calibrated fraud probability; None without a model."""
    profile: ProfileSnapshot | None = None
    """The account fraud profile the order was screened with."""
    rule_errors: tuple[RuleHit, ...] = ()
    """Every rule that failed at run time, as a hit of it would read; a failed review or
    reject rule made the decision at least ``review`` (``degraded``)."""


_FOLDERS = re.compile(r"(?<![\w.~-])(?:~|\.{1,2})?(?:/[^\s/:'\"()]+)*/(?=[^\s/:'\"()])")


def without_folders(text: str, paths: Iterable[object] = ()) -> str:
    """``text`` with each file path cut to its name (``/srv/models/m.joblib`` -> ``m.joblib``):
    the folders of ``paths`` wherever they appear (spaces and all), then anything that looks
    like a folder."""
    folders = {str(Path(str(path)).parent).rstrip("/") + "/" for path in paths}
    for folder in sorted(folders - {"./", "/"}, key=len, reverse=True):  # /a/b/ before /a/
        text = text.replace(folder, "")
    return _FOLDERS.sub("", text)


class Screener:
    """Screens orders with one set of loaded parts. Thread-safe for concurrent ``screen`` calls."""

    def __init__(self, settings: Settings, parts: Parts) -> None:
        self.settings = settings
        self.parts = parts
        secrets = load_or_create_secrets(settings.data_dir)
        try:  # hashes made with another host's key would never match: refuse to screen
            parts.store.claim_email_key(key_check(secrets))
        except StoreError:  # the database is down: the serve command checked at start
            log.warning("the email key could not be checked: the database is unavailable")
        self.enricher = Enricher(parts.geoip, secrets.email_hmac_key)
        self._digest_key = secrets.email_hmac_key
        self._lists_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._swap_lock = threading.Lock()
        self.last_reload: dict[str, Any] | None = None
        """When :meth:`reload_files` last ran and what it did to each part (``/readyz``)."""
        self._lists: tuple[float, int, ListMatcher] | None = None
        self._check_thresholds()

    @classmethod
    def from_settings(cls, settings: Settings) -> Screener:
        """Load every part from the settings (the store must already be migrated)."""
        return cls(settings, load_parts(settings))

    @property
    def store(self) -> ScreeningStore:
        """The store screening reads and writes: the SQL store when serving, the replay's
        in-memory store when training."""
        return self.parts.store

    @property
    def sql_store(self) -> Store:
        """The SQL store, for what the API needs beyond screening (keys, audit, erasure, lists).

        ConfigError when this screener runs on another store (the replay's)."""
        from fraudscreen.store.sql import Store

        store = self.parts.store
        if not isinstance(store, Store):
            raise ConfigError("this screener does not run on the SQL store")
        return store

    @property
    def thresholds(self) -> Thresholds | None:
        """The model bundle's thresholds, with the settings' overrides applied."""
        return self._thresholds_of(self.parts.model)

    def _thresholds_of(self, model: ModelBundle | None) -> Thresholds | None:
        """The bundle's thresholds with the overrides; ``None`` if the overrides do not fit."""
        if model is None:
            return None
        review, reject = self.settings.review_threshold, self.settings.reject_threshold
        try:
            return Thresholds(
                review=model.thresholds.review if review is None else review,
                reject=model.thresholds.reject if reject is None else reject,
            )
        except ModelError:
            return None

    def _in_use(self, model: ModelBundle | None) -> tuple[ModelBundle | None, Thresholds | None]:
        """The model that answers use, and its thresholds: none when the overrides do not fit
        the bundle (the model is then unavailable)."""
        thresholds = self._thresholds_of(model)
        return (model if thresholds is not None else None), thresholds

    def _check_thresholds(self) -> None:
        if self.parts.model is not None and self._thresholds_of(self.parts.model) is None:
            self.parts = self.parts.swapped("model", self.parts.model, BAD_OVERRIDES)

    def _swap(self, part: str, value: Any) -> None:
        """Put a newly loaded part in use, its problem cleared: a new :class:`Parts`, made under
        a lock so that two reloads at once do not lose one of them."""
        with self._swap_lock:
            self.parts = self.parts.swapped(part, value)

    def reload_model(self, path: Path | None = None) -> ModelBundle:
        """Load a model bundle and swap it in; raises :class:`ModelError` and keeps the old one."""
        bundle = ModelBundle.load(path or self.settings.resolved_model_path)
        bundle.ensure_features(FEATURE_NAMES)
        if self._thresholds_of(bundle) is None:
            raise ModelError(BAD_OVERRIDES)
        self._swap("model", bundle)
        return bundle

    def reload_rules(self) -> RuleSet:
        """Load the configured rules file and swap it in; raises :class:`RuleError` and keeps
        the rules in use (none, if none loaded)."""
        rules = RuleSet.load(self.settings.resolved_rules_path)
        self._swap("rules", rules)
        return rules

    def reload_geoip(self) -> GeoIP:
        """Open the configured GeoIP databases again and swap them in; when any of them does
        not open, the readers in use stay and :class:`ConfigError` says why. The replaced
        readers are closed a while later (:func:`~fraudscreen.parts.close_later`)."""
        geoip = reopen_geoip(self.settings)
        old = self.parts.geoip
        self._swap("geoip", geoip)
        self.enricher.geoip = geoip
        close_later(old)
        return geoip

    def reload_files(self) -> dict[str, str]:
        """Reload the model bundle, the rules file and the GeoIP databases from their configured
        paths, each on its own: a part that fails to load keeps what is in use. What happened
        to each part, for the log (``{"model": "loaded default-2026.12", "rules": "kept: ..."}``).
        """
        done: dict[str, str] = {}
        started = datetime.now(UTC)
        with self._reload_lock:
            for part, load in (("model", self.reload_model), ("rules", self.reload_rules),
                               ("geoip", self.reload_geoip)):
                try:
                    loaded = load()
                except FraudscreenError as exc:
                    done[part] = f"kept what was in use: {exc.message}"
                else:
                    done[part] = f"loaded {getattr(loaded, 'version', 'the databases')}"
            self.last_reload = {"at": started.isoformat(timespec="seconds"), "parts": done}
        return done

    def readiness(self) -> dict[str, Any]:
        """What /readyz reports: each part, ok or the problem."""
        parts = self.parts
        problems = dict(parts.problems)
        if not parts.store.ping():
            problems["store"] = "the database does not answer"
        model, _thresholds = self._in_use(parts.model)  # as answers see it
        last = self.last_reload
        s = self.settings
        configured = [p for p in (s.resolved_model_path, s.resolved_rules_path, s.geoip_city_path,
                                  s.geoip_asn_path, s.geoip_anonymous_ip_path) if p]
        return {  # /readyz answers without a key: file names, not where they are (logs say)
            "ready": not problems,
            "problems": {part: without_folders(why, configured) for part, why in problems.items()},
            "model_version": model.version if model else None,
            "rules_version": parts.rules.version if parts.rules else None,
            "model_rules_version": model.params.get("rules_version") if model else None,
            "geoip": parts.geoip.databases(),
            "last_reload": last and {**last, "parts": {
                part: without_folders(what, configured) for part, what in last["parts"].items()}},
        }

    def invalidate_lists(self) -> None:
        """Forget the cached list matcher (after a list change in this process)."""
        with self._lists_lock:
            self._lists = None

    def _list_matcher(self) -> ListMatcher:
        now = time.monotonic()
        cached = self._lists
        if cached is not None and now - cached[0] < LISTS_REFRESH_SECONDS:
            return cached[2]
        with self._lists_lock:
            revision = self.store.lists_revision()
            if self._lists is not None and self._lists[1] == revision:
                self._lists = (now, revision, self._lists[2])
            else:
                entries = [
                    ListEntry(r.list_name, r.kind, r.value, r.note)
                    for r in self.store.list_entries()
                ]
                self._lists = (now, revision, ListMatcher(entries))
            return self._lists[2]

    def screen(self, body: Any, *, received_at: datetime | None = None) -> Screened:
        """Screen a decoded JSON body. Raises :class:`InvalidRequestError` for a bad body.

        A transaction id that is already stored gets the stored answer when the body is the
        same, and :class:`~fraudscreen.idempotency.TransactionReusedError` (409) when it is not.
        The store finds out when it inserts (the id is unique), not with a lookup first: retries
        are rare, and a lookup before every order cost about 0.1 ms. An order whose account was
        erased between reading its history and storing it is screened again on what is left.
        """
        order, warnings = parse_order(body)
        digest = request_digest(body, self._digest_key)
        received_at = received_at or datetime.now(UTC)
        if order.event.time is not None and order.event.time > received_at + MAX_CLOCK_SKEW:
            # an order dated ahead would be invisible to the profiles of the orders before it
            raise InvalidRequestError(
                "Invalid time.",
                details=[ErrorDetail("/event/time", "must not be more than a day ahead of the server's clock")],
            )
        for attempt in range(1, SCREEN_ATTEMPTS + 1):
            evaluation = self.evaluate(order, warnings, received_at=received_at, request_digest=digest)
            record = evaluation.record
            try:
                stored_order, created = self.store.save_order(record)
                break
            except StaleHistoryError:  # erased between reading the history and storing
                if attempt < SCREEN_ATTEMPTS:
                    continue
                log.error("order not stored: the account's history kept changing")
                return self._not_stored(record)
            except CommitUnknownError:
                log.error("order perhaps not stored: the database connection was lost while it committed")
                return self._not_stored(record, UNKNOWN_IF_STORED)
            except StoreError:
                log.error("order not stored: the database is unavailable")
                return self._not_stored(record)
        if not created:
            if stored_order.request_digest not in (None, digest):
                raise TransactionReusedError()
            return Screened(stored_order.response, replayed=True)
        return Screened(record.response, replayed=False)

    @staticmethod
    def _not_stored(record: OrderRecord, message: str = "The order could not be stored.") -> Screened:
        """The answer with a ``not_stored`` warning: nothing of the order was kept (or, with
        :data:`UNKNOWN_IF_STORED`, the database may have kept it)."""
        not_stored = ScreeningWarning("not_stored", message)
        shown = [*record.response["warnings"], not_stored.to_dict()]
        return Screened({**record.response, "warnings": shown}, replayed=False)

    def evaluate(
        self,
        order: OrderRequest,
        warnings: list[ScreeningWarning] | None = None,
        *,
        received_at: datetime | None = None,
        build_response: bool = True,
        request_digest: str | None = None,
    ) -> Evaluation:
        """Score a validated order and build what would be stored; writes nothing.

        ``build_response=False`` (the replay) skips the JSON answer: the record's ``response``
        and the result's ``ip_location`` and ``profile`` are then empty; everything else,
        the decision, features and rule hits included, is the same. ``request_digest`` goes
        into the record (:mod:`fraudscreen.idempotency`).
        """
        received = received_at or datetime.now(UTC)
        prepared = prepare_order(self.enricher, order, warnings or (), received_at=received,
                                 build_response=build_response)
        return self.assess(prepared, received_at=received, build_response=build_response,
                           request_digest=request_digest)

    def assess(
        self, prepared: PreparedOrder, *, received_at: datetime, build_response: bool = True,
        request_digest: str | None = None,
    ) -> Evaluation:
        """The half of :meth:`evaluate` that reads the store: the history before the order,
        the profile, lists, features, model, rules and decision (see :mod:`fraudscreen.prepared`)."""
        warnings = list(prepared.warnings)
        parts = self.parts  # one snapshot: a reload meanwhile shows in the next answer, whole
        degraded = [DEGRADED_REASONS[p] for p in parts.problems if p in DEGRADED_REASONS]
        history, profile, lists = self._history(prepared, degraded)
        if prepared.account_id is None:
            warnings.append(ScreeningWarning(
                "no_account_id", "Without account.user_id the account profile is empty.",
                "/account/user_id"))
        context = add_history(prepared.context, profile, lists)
        vector = feature_vector(context)
        model, thresholds = self._in_use(parts.model)
        probability, model_reasons = self._model_signals(model, thresholds, vector, degraded, warnings)
        if probability is not None:
            context["model"]["score"] = risk_score(probability)
        rules = parts.rules
        hits, rule_errors = self._rule_hits(rules, context, degraded, warnings)
        outcome = decide(probability=probability, thresholds=thresholds, hits=hits,
                         model_signals=model_reasons, degraded=degraded)
        for problem in parts.problems:
            warnings.append(
                ScreeningWarning(f"{problem}_unavailable", DEGRADED_REASONS[problem].message)
            )
        result = ScreeningResult(
            id=new_id(),
            order_id=prepared.transaction_id,
            decision=outcome.decision,
            risk_score=risk_score(probability) if probability is not None else None,
            reasons=outcome.reasons,
            ip_location=(prepared.ip_location or {}) if build_response else {},
            profile=profile.to_dict() if build_response else {},
            model_version=model.version if model else None,
            rules_version=rules.version if rules else None,
            warnings=warnings,
            disposition=outcome.disposition,  # type: ignore[arg-type]
        )
        record = OrderRecord(
            order_id=result.id,
            transaction_id=prepared.transaction_id,
            account_id=prepared.account_id,
            event_time=prepared.event_time,
            received_at=received_at,
            account_created_at=prepared.account_created_at,
            amount=prepared.amount,
            currency=prepared.currency,
            amount_usd=prepared.amount_usd,
            entities=prepared.entities,
            ip_country=prepared.ip_country,
            decision=outcome.decision,
            risk_score=result.risk_score if result.risk_score is not None else -1.0,
            response=result.to_dict() if build_response else {},
            features=feature_log(vector, ((h.rule_id, h.action) for h in hits),
                                 ((f.rule_id, f.action) for f in rule_errors)),
            history_orders=profile.prior_orders,
            history_generation=history.generation if history is not None else None,
            request_digest=request_digest,
        )
        return Evaluation(result, record, vector, tuple(hits), probability, profile, rule_errors)

    def _history(
        self, prepared: PreparedOrder, degraded: list[Reason]
    ) -> tuple[AccountHistory | None, ProfileSnapshot, dict[str, Any]]:
        """The account's history and profile before the order, and the ``lists`` the order is
        on; with the store down an empty profile and no lists, and ``degraded`` says so."""
        account_id, at, entities = prepared.account_id, prepared.event_time, prepared.entities
        created_at = prepared.account_created_at
        try:
            history = self.store.load_history(account_id, entities, at)
            profile = build_profile(history, at=at, account_created_at=created_at)
            matcher = self._list_matcher()
        except StoreError:
            degraded.append(DEGRADED_REASONS["store"])
            history = None
            profile = build_profile(None, at=at, account_created_at=created_at)
            matcher = ListMatcher([])
        lists = matcher.match(
            ip=entities.ip,
            email_domain=entities.email_domain,
            email_hash=entities.email_hash,
            bin=prepared.card_bin,
            countries=tuple(c for c in (prepared.ip_country, prepared.billing_country) if c),
            device_id=entities.device_id,
            account_id=account_id,
        )
        return history, profile, lists

    def _model_signals(
        self, model: ModelBundle | None, thresholds: Thresholds | None, vector: np.ndarray,
        degraded: list[Reason], warnings: list[ScreeningWarning],
    ) -> tuple[float | None, list[Reason]]:
        """The model's probability (None without a model or without a finite answer) and, from
        the review threshold on, its strongest signals as reasons."""
        if model is None:
            return None, []
        probability = model.predict_one(vector)
        if not math.isfinite(probability):  # never clamp NaN into an accept
            log.error("model %s gave no finite probability: treated as unavailable", model.version)
            if DEGRADED_REASONS["model"] not in degraded:
                degraded.append(DEGRADED_REASONS["model"])
                warnings.append(ScreeningWarning("model_unavailable", DEGRADED_REASONS["model"].message))
            return None, []
        if thresholds is None or probability < thresholds.review:
            return probability, []
        return probability, [
            Reason(f"MODEL_{name.upper()}",
                   describe_feature(name, float(vector[FEATURE_INDEX[name]])), "model")
            for name, _ in model.explain(vector, top=3)
        ]

    def _rule_hits(
        self, rules: RuleSet | None, context: dict[str, Any], degraded: list[Reason],
        warnings: list[ScreeningWarning],
    ) -> tuple[list[RuleHit], tuple[RuleHit, ...]]:
        """Every rule that fired, and those that failed (:attr:`Evaluation.rule_errors`); a
        failed rule is a warning, and a failed reject or review rule also a ``degraded`` reason
        (it might have stopped the order: never accept)."""
        if rules is None:
            return [], ()
        evaluation = rules.evaluate(context)
        for rule_id in evaluation.errors:
            warnings.append(ScreeningWarning("rule_error", f"Rule {rule_id} could not be evaluated."))
        degraded.extend(rule_failed_reason(rule_id) for rule_id in evaluation.deciding_errors)
        return list(evaluation.hits), evaluation.failed


__all__ = ["Evaluation", "Parts", "Screened", "Screener", "load_parts"]
