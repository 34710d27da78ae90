"""The OpenAPI 3.1 document, with the request schema generated from the pydantic models."""

from __future__ import annotations

import functools
from typing import Any

from fraudscreen import __version__
from fraudscreen.schema import OUTCOMES, OrderRequest

_ERROR = {"$ref": "#/components/schemas/Error"}


def _responses(ok: dict[str, Any], *codes: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": ok}
    for code in codes:
        out[str(code)] = {"description": "Error", "content": {"application/json": {"schema": _ERROR}}}
    return out


@functools.cache
def openapi_document() -> dict[str, Any]:
    """Build (once) the OpenAPI description served at ``/openapi.json``."""
    order_schema = OrderRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = order_schema.pop("$defs", {})
    json_ok = {"description": "OK", "content": {"application/json": {}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "fraudscreen", "version": __version__},
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "OrderRequest": order_schema,
                **defs,
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "details": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "pointer": {"type": "string"},
                                            "message": {"type": "string"},
                                        },
                                    },
                                },
                            },
                        }
                    },
                },
            },
        },
        "security": [{"apiKey": []}],
        "paths": {
            "/v1/score": {
                "post": {
                    "summary": "Screen one order",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/OrderRequest"}
                            }
                        },
                    },
                    "responses": _responses(json_ok, 400, 401, 403, 413),
                }
            },
            "/v1/orders/{id}": {
                "get": {"summary": "A stored order", "responses": _responses(json_ok, 401, 404)}
            },
            "/v1/orders/{id}/outcome": {
                "post": {
                    "summary": "Report an order's outcome",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["outcome"],
                                    "properties": {
                                        "outcome": {"enum": list(OUTCOMES)},
                                        "reported_at": {"type": "string", "format": "date-time"},
                                    },
                                }
                            }
                        }
                    },
                    "responses": _responses(json_ok, 400, 401, 403, 404),
                }
            },
            "/v1/accounts/{id}/profile": {
                "get": {"summary": "An account fraud profile", "responses": _responses(json_ok, 401, 404)}
            },
            "/v1/accounts/{id}/export": {
                "get": {"summary": "Everything held on an account", "responses": _responses(json_ok, 401, 403, 404)}
            },
            "/v1/accounts/{id}": {
                "delete": {"summary": "Erase an account's personal data", "responses": _responses(json_ok, 401, 403)}
            },
            "/v1/admin/model/reload": {
                "post": {"summary": "Reload the model bundle", "responses": _responses(json_ok, 400, 401, 403)}
            },
            "/v1/lists": {"get": {"summary": "List entries", "responses": _responses(json_ok, 401, 403)}},
            "/v1/lists/{list}": {
                "post": {"summary": "Add a list entry", "responses": _responses(json_ok, 400, 401, 403)},
                "delete": {"summary": "Remove a list entry", "responses": _responses(json_ok, 401, 403, 404)},
            },
            "/healthz": {"get": {"summary": "Liveness", "security": [], "responses": {"200": json_ok}}},
            "/readyz": {"get": {"summary": "Readiness", "security": [], "responses": {"200": json_ok}}},
        },
    }
