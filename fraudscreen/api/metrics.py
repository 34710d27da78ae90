"""Prometheus metrics of the API (summed over workers under ``fraudscreen serve``: see ``server``)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Histogram

from fraudscreen.result import DECISIONS as DECISIONS_MADE
from fraudscreen.rules.engine import on_rule_error

REQUESTS = Counter("fraudscreen_http_requests_total", "HTTP requests", ["endpoint", "status"])
LATENCY = Histogram(
    "fraudscreen_http_request_seconds",
    "HTTP request latency",
    ["endpoint"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
)
DECISIONS = Counter("fraudscreen_decisions_total", "Screening decisions", ["decision"])
RULE_ERRORS = Counter(
    "fraudscreen_rule_errors_total", "Rule evaluations that failed at run time", ["rule"]
)
"""Run-time rule failures per rule id (ids come from the rules file: bounded cardinality)."""
on_rule_error(lambda rule_id: RULE_ERRORS.labels(rule_id).inc())


def start_from_zero(rule_ids: Iterable[str]) -> None:
    """Make every decision's and every loaded rule's series exist, at 0 until counted, so that
    ``/metrics`` shows them before the first one happens: an alert on
    ``fraudscreen_rule_errors_total`` then sees 0, not nothing."""
    for decision in DECISIONS_MADE:
        DECISIONS.labels(decision)
    for rule_id in rule_ids:
        RULE_ERRORS.labels(rule_id)
