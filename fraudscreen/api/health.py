"""Liveness, readiness, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from fraudscreen.api.metrics import start_from_zero
from fraudscreen.api.openapi import openapi_document
from fraudscreen.config import metrics_dir

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Every part is loaded: database, GeoIP, model, rules. 503 with the problems otherwise."""
    report = current_app.extensions["fraudscreen"].readiness()
    return jsonify(report), 200 if report["ready"] else 503


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics: summed over the server's workers under ``fraudscreen serve``."""
    rules = current_app.extensions["fraudscreen"].parts.rules
    start_from_zero(rule.id for rule in (rules.rules if rules else ()) if rule.enabled)
    if metrics_dir() is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), content_type=CONTENT_TYPE_LATEST)


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 description of the API."""
    return jsonify(openapi_document())
