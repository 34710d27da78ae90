"""Privacy endpoints (admin scope): erase and export an account; the per-request log line.

- ``DELETE /v1/accounts/<id>``: erase the account's personal data; answers the report.
- ``GET /v1/accounts/<id>/export``: everything held on the account, as JSON.

Registering the blueprint also installs an after-request hook that writes one log line per
request with as little as possible (route template, status, duration, the API key's name,
the fraudscreen order id and decision), and starts the in-service purge schedule when
``purge_interval_hours`` is set.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from flask.blueprints import BlueprintSetupState

from fraudscreen.api.auth import require_scope
from fraudscreen.privacy import erase_account, export_account, start_purge_scheduler
from fraudscreen.screening import Screener

bp = Blueprint("privacy", __name__, url_prefix="/v1/accounts")
request_log = logging.getLogger("fraudscreen.requests")

_ORDER_ROUTES = ("/v1/score", "/v1/orders/<order_id>", "/v1/orders/<order_id>/outcome")
_QUIET_ROUTES = ("/healthz", "/readyz", "/metrics")
"""Probes and scrapes: not logged (they carry nothing worth keeping)."""


def _screener() -> Screener:
    return current_app.extensions["fraudscreen"]  # type: ignore[no-any-return]


@bp.delete("/<account_id>")
@require_scope("admin")
def erase(account_id: str) -> Response:
    """Erase the account (idempotent): the report of what was removed and what was kept."""
    screener = _screener()
    report = erase_account(screener.store, screener.settings, account_id, actor=g.api_key.name)
    screener.invalidate_lists()
    return jsonify(report.to_dict())


@bp.get("/<account_id>/export")
@require_scope("admin")
def export(account_id: str) -> Response:
    """Everything held on the account; 404 when nothing is."""
    return jsonify(export_account(_screener().store, account_id, actor=g.api_key.name))


@bp.after_app_request
def _log_request(response: Response) -> Response:
    route = request.url_rule.rule if request.url_rule else "unmatched"
    if route in _QUIET_ROUTES:
        return response
    fields: dict[str, Any] = {
        "method": request.method,
        "route": route,
        "status": response.status_code,
    }
    started = g.get("started")
    if started is not None:
        fields["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
    api_key = g.get("api_key")
    if api_key is not None:
        fields["api_key"] = api_key.name
    if route in _ORDER_ROUTES and response.status_code == 200 and response.is_json:
        body = response.get_json(silent=True)
        if isinstance(body, dict):
            fields["order_id"] = body.get("id")
            fields["decision"] = body.get("decision")
    request_log.info("request", extra=fields)
    return response


@bp.record_once
def _schedule_purge(state: BlueprintSetupState) -> None:
    screener = state.app.extensions.get("fraudscreen")
    if screener is not None:
        scheduler = start_purge_scheduler(screener.store, screener.settings)
        if scheduler is not None:
            state.app.extensions["fraudscreen_purge"] = scheduler
