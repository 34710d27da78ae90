"""The Flask application factory: ``create_app(settings=None)``."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, Response, g, request

from fraudscreen.api import admin, health, model_admin, privacy, v1
from fraudscreen.api.auth import KeyCache
from fraudscreen.api.errors import register_error_handlers
from fraudscreen.api.metrics import LATENCY, REQUESTS
from fraudscreen.api.paths import configure_url_map
from fraudscreen.config import Settings, load_settings
from fraudscreen.errors import ErrorDetail, InvalidRequestError
from fraudscreen.logs import setup_logging
from fraudscreen.schema import CONTROL_CHARACTER, MAX_ACCOUNT_ID
from fraudscreen.screening import Screener

QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probes and scrapes: not logged (they carry nothing worth keeping)."""
_request_log = logging.getLogger("fraudscreen.requests")


def log_request(route: str, status: int, seconds: float) -> None:
    """One log line per request, with as little as possible: route template (never the path),
    status, duration, the API key's name, and the order id and decision the view noted."""
    fields: dict[str, Any] = {
        "method": request.method,
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
    }
    api_key = g.get("api_key")
    if api_key is not None:
        fields["api_key"] = api_key.name
    if status == 200 and g.get("order_id") is not None:
        fields["order_id"] = g.order_id
        fields["decision"] = g.get("decision")
    _request_log.info("request", extra=fields)


def _path_is_utf8(environ: dict[str, Any]) -> bool:
    """True when the request path, percent-decoded, is UTF-8: from the raw request line where
    the server gives it (gunicorn's ``RAW_URI``, werkzeug's ``REQUEST_URI``), else from
    ``PATH_INFO`` (its bytes as Latin-1 text, as WSGI gives them)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    try:
        if raw:
            unquote_to_bytes(raw.partition("?")[0]).decode("utf-8")
        else:
            environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
    except UnicodeError:
        return False
    return True


def create_app(settings: Settings | None = None, screener: Screener | None = None) -> Flask:
    """Build the app. ``settings`` default to the environment; the store must be migrated."""
    settings = settings or load_settings()
    setup_logging(settings)
    app = Flask(__name__)
    configure_url_map(app.url_map)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["fraudscreen"] = screener or Screener.from_settings(settings)
    app.extensions["fraudscreen_keys"] = KeyCache()
    app.register_blueprint(v1.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(privacy.bp)
    app.register_blueprint(model_admin.bp)
    register_error_handlers(app)

    @app.url_value_preprocessor
    def _refuse_unreadable_ids(_endpoint: str | None, values: dict[str, Any] | None) -> None:
        """A path id with a control character (``%00``) matches nothing and no database holds it;
        one that is not UTF-8 (``%ff``, which werkzeug reads as U+FFFD) names no id at all. Ids
        lose surrounding spaces, as the score request's do (``%20acct-1`` is ``acct-1``)."""
        if values is None:
            return
        for name, value in values.items():
            if not isinstance(value, str):
                continue
            if CONTROL_CHARACTER.search(value):
                raise InvalidRequestError(
                    "Invalid path.",
                    details=[ErrorDetail(f"/{name}", "must not contain control characters")],
                )
            if "\ufffd" in value and not _path_is_utf8(request.environ):
                raise InvalidRequestError(
                    "Invalid path.", details=[ErrorDetail(f"/{name}", "must be UTF-8 text")]
                )
            if not value.strip():
                raise InvalidRequestError(
                    "Invalid path.", details=[ErrorDetail(f"/{name}", "must not be blank")]
                )
            values[name] = value.strip()
            if name == "account_id" and len(values[name]) > MAX_ACCOUNT_ID:  # no account has one:
                raise InvalidRequestError(  # PostgreSQL refused its erasure's hold with a 503
                    "Invalid path.", details=[ErrorDetail(
                        f"/{name}", f"must be at most {MAX_ACCOUNT_ID} characters")])

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        REQUESTS.labels(endpoint, str(response.status_code)).inc()
        LATENCY.labels(endpoint).observe(seconds)
        if endpoint not in QUIET_ROUTES:
            log_request(endpoint, response.status_code, seconds)
        return response

    return app
