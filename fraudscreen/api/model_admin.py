"""Admin API: swap the model bundle without a restart (``POST /v1/admin/model/reload``).

Model bundles are joblib files, and joblib unpickles: loading one runs code from the file.
Bundles are therefore **trusted files**, and an API caller may only name bundles inside the
models directory (``<repo>/models``) or the folder of the configured bundle
(``FRAUDSCREEN_MODEL_PATH``); anything else, symlinks resolved, is refused before it is opened.

The reload swaps the model of the worker process that answers the call. With several
gunicorn workers, replace the file ``FRAUDSCREEN_MODEL_PATH`` names and send ``SIGHUP`` to
the gunicorn master: it passes the signal on, and every worker reloads the configured files in
place (:func:`install_reload_signal`) while it goes on answering. A new path (a changed
setting) needs a restart: the master read the settings at start.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify

from fraudscreen.api.auth import require_scope
from fraudscreen.api.v1 import json_object, request_body, text_problem
from fraudscreen.config import REPO_DIR
from fraudscreen.errors import ErrorDetail, InvalidRequestError, ModelError
from fraudscreen.model import bundle_file
from fraudscreen.screening import Screener

log = logging.getLogger(__name__)

bp = Blueprint("model_admin", __name__, url_prefix="/v1/admin/model")

MODELS_DIR = REPO_DIR / "models"
"""Where bundles named by a relative path are looked for."""
RELOAD_KEYS = ("path",)
"""The members a reload body may have; any other (a typo of ``path``) is a 400."""


def _kept(screener: Screener) -> str:
    """What serves orders after a failed reload: the loaded model, or none at all."""
    model = screener.parts.model
    if model is None:
        return "no model is loaded, so orders are still screened without one (MODEL_UNAVAILABLE)"
    return f"model {model.version} stays in use"


def _reload_body() -> dict[str, Any]:
    """The JSON object of a reload call ({} for an empty body); a 400 naming any unknown member."""
    if not request_body().strip():
        return {}
    return json_object(RELOAD_KEYS)


def allowed_roots(screener: Screener) -> tuple[Path, ...]:
    """Folders an API caller may load bundles from: the models directory and the configured one."""
    configured = bundle_file(screener.settings.resolved_model_path).resolve()
    return tuple(dict.fromkeys((MODELS_DIR.resolve(), configured.parent)))


def resolve_bundle_path(screener: Screener, raw: Any) -> Path:
    """The bundle file named by the request, refused unless it is a ``.joblib`` under an allowed root."""
    if raw is None:
        return screener.settings.resolved_model_path
    if not isinstance(raw, str) or not raw.strip() or text_problem(raw):
        raise InvalidRequestError("Invalid model path.",
                                  details=[ErrorDetail("/path", "must be a non-empty string")])
    path = Path(raw)
    if not path.is_absolute():
        path = MODELS_DIR / path
    try:
        resolved = bundle_file(path).resolve()
    except (OSError, RuntimeError):  # name too long, symlink loop, ...
        resolved = Path("/")
    if resolved.suffix != ".joblib" or not any(
        resolved.is_relative_to(root) for root in allowed_roots(screener)
    ):
        raise InvalidRequestError(
            "The model path is not allowed.",
            details=[ErrorDetail("/path", "must be a .joblib bundle inside the models directory "
                                          "or the configured model's folder")],
        )
    return resolved


def _model_json(screener: Screener, path: Path) -> dict[str, Any]:
    model = screener.parts.model
    thresholds = screener.thresholds
    return {
        "model_version": model.version if model else None,
        "trained_at": model.trained_at if model else None,
        "path": str(path),
        "thresholds": (
            {"review": thresholds.review, "reject": thresholds.reject} if thresholds else None
        ),
    }


@bp.post("/reload")
@require_scope("admin")
def reload_model() -> Response:
    """Load a bundle (``{"path": ...}`` or the configured one) and swap it in; the old one stays
    on error. Any member other than ``path`` is refused (400 naming it), nothing reloaded."""
    body = _reload_body()
    screener: Screener = current_app.extensions["fraudscreen"]
    path = resolve_bundle_path(screener, body.get("path"))
    previous = screener.parts.model.version if screener.parts.model else None
    actor = getattr(g, "api_key", None)
    try:
        screener.reload_model(path)
    except ModelError as exc:  # an operator watches the logs, not the caller's 400 only
        log.warning("model reload by %s failed: %s; %s", getattr(actor, "name", "?"), exc.message,
                    _kept(screener))
        raise InvalidRequestError(
            f"The model bundle could not be loaded; {_kept(screener)}.",
            details=[ErrorDetail("/path", exc.message)],
        ) from None
    log.info("model reloaded by %s: %s", getattr(actor, "name", "?"),
             screener.parts.model.version if screener.parts.model else None)
    return jsonify({**_model_json(screener, path), "previous_version": previous})


def install_reload_signal(screener: Screener, signum: int = signal.SIGHUP) -> None:
    """On ``signum``, reload the configured model bundle, rules file and GeoIP databases in this
    process, in a thread, while requests go on (:meth:`Screener.reload_files`: a part that does
    not load keeps what is in use, and the error is logged).

    The server's ``post_worker_init`` hook calls it in every worker; call it from the main thread.
    """

    def _reload() -> None:
        for part, what in screener.reload_files().items():
            if what.startswith("loaded"):
                log.info("%s reloaded on signal: %s", part, what)
            else:
                log.error("%s reload on signal failed: %s", part, what)

    def _handler(_signum: int, _frame: Any) -> None:
        threading.Thread(target=_reload, name="reload-files", daemon=True).start()

    signal.signal(signum, _handler)
    signal.siginterrupt(signum, False)
