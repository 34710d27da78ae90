"""The Flask application factory: ``create_app(settings=None)``."""

from __future__ import annotations

import time

from flask import Flask, Response, g, request

from fraudscreen.api import admin, health, model_admin, privacy, v1
from fraudscreen.api.auth import KeyCache
from fraudscreen.api.errors import register_error_handlers
from fraudscreen.api.metrics import LATENCY, REQUESTS
from fraudscreen.config import Settings, load_settings
from fraudscreen.logs import setup_logging
from fraudscreen.screening import Screener


def create_app(settings: Settings | None = None, screener: Screener | None = None) -> Flask:
    """Build the app. ``settings`` default to the environment; the store must be migrated."""
    settings = settings or load_settings()
    setup_logging(settings)
    app = Flask(__name__)
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

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(endpoint, str(response.status_code)).inc()
        LATENCY.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    return app
