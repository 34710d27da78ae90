"""Privacy endpoints (admin scope): erase and export an account.

- ``DELETE /v1/accounts/<id>``: erase the account's personal data; answers the report.
- ``GET /v1/accounts/<id>/export``: everything held on the account, as JSON.

Registering the blueprint also starts the in-service purge schedule when
``purge_interval_hours`` is set.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify
from flask.blueprints import BlueprintSetupState

from fraudscreen.api.auth import require_scope
from fraudscreen.privacy import erase_account, export_account, start_purge_scheduler
from fraudscreen.screening import Screener

bp = Blueprint("privacy", __name__, url_prefix="/v1/accounts")


def _screener() -> Screener:
    return current_app.extensions["fraudscreen"]  # type: ignore[no-any-return]


@bp.delete("/<erasable_account_id:account_id>")
@require_scope("admin")
def erase(account_id: str) -> Response:
    """Erase the account (idempotent): the report of what was removed and what was kept."""
    screener = _screener()
    report = erase_account(screener.sql_store, screener.settings, account_id, actor=g.api_key.name)
    screener.invalidate_lists()
    return jsonify(report.to_dict())


@bp.get("/<id:account_id>/export")
@require_scope("admin")
def export(account_id: str) -> Response:
    """Everything held on the account; 404 when nothing is."""
    return jsonify(export_account(_screener().sql_store, account_id, actor=g.api_key.name))


@bp.record_once
def _schedule_purge(state: BlueprintSetupState) -> None:
    screener = state.app.extensions.get("fraudscreen")
    if screener is not None:
        scheduler = start_purge_scheduler(screener.sql_store, screener.settings)
        if scheduler is not None:
            state.app.extensions["fraudscreen_purge"] = scheduler
