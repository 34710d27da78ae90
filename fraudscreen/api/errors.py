"""Every error leaves the API as ``{"error": {"code", "message", "details"}}``.

This is the one place that maps exceptions to HTTP statuses. Messages come from the
exception classes, which never carry personal data; unexpected exceptions are logged by type
only and answered with a generic 500 body.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from fraudscreen.errors import ErrorDetail, FraudscreenError

log = logging.getLogger(__name__)


def error_response(
    status: int, code: str, message: str, details: list[ErrorDetail] | None = None
) -> tuple[Response, int]:
    """A JSON error body with the given status."""
    body: dict[str, Any] = {
        "error": {"code": code, "message": message, "details": [d.to_dict() for d in details or []]}
    }
    return jsonify(body), status


def register_error_handlers(app: Flask) -> None:
    """Install the handlers that turn exceptions into JSON errors."""

    @app.errorhandler(FraudscreenError)
    def _fraudscreen_error(exc: FraudscreenError) -> tuple[Response, int]:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> tuple[Response, int]:
        limit = app.config.get("MAX_CONTENT_LENGTH")
        return error_response(413, "request_too_large", f"The body is larger than {limit} bytes.")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.error("unexpected error: %s", type(exc).__name__)
        return error_response(500, "internal_error", "An unexpected error occurred.")
