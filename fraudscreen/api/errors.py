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

WWW_AUTHENTICATE = 'Bearer realm="fraudscreen"'
"""The challenge of every 401 (RFC 9110 15.5.2, RFC 6750): send an API key as a bearer token."""
_BODY_HEADERS = frozenset({"content-type", "content-length"})


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
        response, status = error_response(exc.status, exc.code, exc.message, exc.details)
        if status == 401:  # AuthenticationError: no key, or an unknown or revoked one
            response.headers["WWW-Authenticate"] = WWW_AUTHENTICATE
        if exc.retry_after is not None:  # RFC 9110 10.2.3: when to try again
            response.headers["Retry-After"] = str(exc.retry_after)
        return response, status

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> tuple[Response, int]:
        limit = app.config.get("MAX_CONTENT_LENGTH")
        return error_response(413, "request_too_large", f"The body is larger than {limit} bytes.")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        code = (exc.name or "error").lower().replace(" ", "_")
        response, status = error_response(exc.code or 500, code, exc.description or exc.name)
        # werkzeug's own headers (405: Allow; 401: WWW-Authenticate), not those of its HTML body
        for name, value in exc.get_headers():
            if name.lower() not in _BODY_HEADERS:
                response.headers[name] = value
        if status == 401 and "WWW-Authenticate" not in response.headers:
            response.headers["WWW-Authenticate"] = WWW_AUTHENTICATE
        return response, status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.error("unexpected error: %s", type(exc).__name__)
        return error_response(500, "internal_error", "An unexpected error occurred.")
