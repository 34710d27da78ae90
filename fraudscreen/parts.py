"""The loaded parts of the service (store, GeoIP readers, model bundle, rule set): loading
them from the settings, opening GeoIP again on a reload, and the ``system`` reasons an answer
gives when a part is missing."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from fraudscreen.config import Settings
from fraudscreen.enrich import GeoIP
from fraudscreen.errors import ConfigError, ModelError, RuleError
from fraudscreen.features import FEATURE_NAMES
from fraudscreen.model import ModelBundle
from fraudscreen.result import Reason
from fraudscreen.rules import RuleSet
from fraudscreen.store.interface import ScreeningStore

log = logging.getLogger(__name__)

GEOIP_CLOSE_DELAY = 30.0
"""Seconds after a reload before the replaced GeoIP readers are closed (their files unmapped)."""


@dataclass(frozen=True)
class Parts:
    """The loaded parts of the service and the problems met loading them. A reload makes a new
    one (:meth:`swapped`) rather than change this one: an answer reads one ``Parts`` throughout,
    so that it never shows half a reload (a rules reason beside a rules version)."""

    store: ScreeningStore
    geoip: GeoIP
    model: ModelBundle | None
    rules: RuleSet | None
    problems: dict[str, str] = field(default_factory=dict)

    def swapped(self, part: str, value: Any, problem: str | None = None) -> Parts:
        """A copy with ``part`` (``model``, ``rules`` or ``geoip``) replaced by ``value`` and
        its problem set to ``problem`` (None: cleared)."""
        problems = {k: v for k, v in self.problems.items() if k != part}
        if problem is not None:
            problems[part] = problem
        return replace(self, **{part: value}, problems=problems)


def load_parts(settings: Settings) -> Parts:
    """Open the store and load GeoIP, model and rules. GeoIP, model and rules that fail are
    recorded in ``problems``, not raised (answers are degraded to review); a store that cannot
    be opened raises :class:`StoreError` (nothing can be stored: the service must not start)."""
    problems: dict[str, str] = {}
    from fraudscreen.store.sql import Store  # the SQL store, only when serving

    store = Store(settings.resolved_database_url)
    geoip = open_geoip(settings)
    if geoip.problems:  # the City database missing or failing, or a configured ASN/Anonymous-IP one
        problems["geoip"] = "; ".join(geoip.problems)
    model: ModelBundle | None = None
    try:
        bundle = ModelBundle.load(settings.resolved_model_path)
        bundle.ensure_features(FEATURE_NAMES)
        model = bundle
    except ModelError as exc:
        problems["model"] = exc.message
    rules: RuleSet | None = None
    try:
        rules = RuleSet.load(settings.resolved_rules_path)
    except RuleError as exc:
        problems["rules"] = exc.message
    for part, problem in problems.items():  # every answer will be degraded: say why, once
        log.error("%s unavailable: %s", part, problem)
    return Parts(store=store, geoip=geoip, model=model, rules=rules, problems=problems)


BAD_OVERRIDES = (
    "the configured threshold overrides do not fit the model bundle "
    "(need 0 <= review < reject <= 1)"
)

DEGRADED_REASONS = {
    "geoip": Reason("GEOIP_UNAVAILABLE", "A configured GeoIP database is not loaded.", "system"),
    "model": Reason("MODEL_UNAVAILABLE", "No model could score this order.", "system"),
    "rules": Reason("RULES_UNAVAILABLE", "The rules could not be loaded.", "system"),
    "store": Reason("HISTORY_UNAVAILABLE", "The account history could not be read.", "system"),
}


def rule_failed_reason(rule_id: str) -> Reason:
    """The ``system`` reason of a reject or review rule that failed on an order (names the rule)."""
    return Reason("RULE_FAILED", f"Rule {rule_id} could not be evaluated on this order.", "system")


def open_geoip(settings: Settings) -> GeoIP:
    """The configured GeoIP databases; a database that does not open is in ``problems``."""
    return GeoIP(settings.geoip_city_path, settings.geoip_asn_path, settings.geoip_anonymous_ip_path)


def reopen_geoip(settings: Settings) -> GeoIP:
    """The configured GeoIP databases opened again; :class:`ConfigError` (and nothing kept
    open) when any configured one does not open."""
    geoip = open_geoip(settings)
    if geoip.problems:
        geoip.close()
        raise ConfigError("; ".join(geoip.problems))
    return geoip


def close_later(geoip: GeoIP) -> None:
    """Close replaced readers after :data:`GEOIP_CLOSE_DELAY` seconds, when no lookup of a
    request still uses them."""
    closer = threading.Timer(GEOIP_CLOSE_DELAY, geoip.close)
    closer.daemon = True
    closer.start()
