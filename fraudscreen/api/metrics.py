"""Prometheus metrics of the API (summed over workers under ``fraudscreen serve``: see ``server``)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("fraudscreen_http_requests_total", "HTTP requests", ["endpoint", "status"])
LATENCY = Histogram(
    "fraudscreen_http_request_seconds",
    "HTTP request latency",
    ["endpoint"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
)
DECISIONS = Counter("fraudscreen_decisions_total", "Screening decisions", ["decision"])
