"""The OpenAPI 3.1 document served at ``/openapi.json``.

The score request schema is generated from the pydantic models of :mod:`fraudscreen.schema`,
the score answer, IP location and profile from the dataclasses that produce them
(:class:`~fraudscreen.result.ScreeningResult`, :class:`~fraudscreen.enrich.geo.IPLocation`,
:class:`~fraudscreen.profile.ProfileSnapshot`); the small bodies of the other endpoints are
written here. Every operation lists the statuses it answers (``tests/test_openapi.py`` calls
each one to check), and a ``default`` error covers the rest (405, 500).
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel, ConfigDict

from fraudscreen import __version__
from fraudscreen.enrich.geo import IPLocation
from fraudscreen.profile import ProfileSnapshot
from fraudscreen.result import ScreeningResult
from fraudscreen.rules import LIST_KINDS, LIST_NAMES
from fraudscreen.rules.lists import NOTE_MAX
from fraudscreen.schema import OUTCOMES, OrderRequest

_REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


_TIME = {"type": "string", "format": "date-time"}
_ERRORS = {
    400: "Invalid request: a bad body, query value or path id (a control character); "
    "`details` point at the fields.",
    401: "No API key, or an unknown or revoked one.",
    403: "The API key lacks the scope of this operation.",
    404: "No such resource.",
    409: "The request conflicts with stored data: an outcome for an order erased meanwhile, or "
    "a transaction id screened before with another body (`transaction_id_reused`).",
    413: "The body is larger than `FRAUDSCREEN_MAX_BODY_BYTES` (64 KiB by default).",
    415: "The body is compressed (`Content-Encoding`): bodies are read as sent.",
    503: "The database does not answer or stays locked (`Retry-After: 1`: the same request may "
    "succeed a second later; scoring answers with a `not_stored` warning instead where it can), "
    "or (erasure, purge) the log files cannot be rewritten.",
}


class _Answers(BaseModel):
    """Carrier of the answer dataclasses, so pydantic reads their attribute docstrings."""

    model_config = ConfigDict(
        use_attribute_docstrings=True, json_schema_serialization_defaults_required=True
    )
    result: ScreeningResult
    profile: ProfileSnapshot
    ip_location: IPLocation


def _answer_schemas() -> dict[str, Any]:
    """ScreeningResult and its parts, generated; ``ip_location`` cut to what ``to_dict`` shows."""
    defs: dict[str, Any] = _Answers.model_json_schema(mode="serialization", ref_template=_REF)[
        "$defs"
    ]
    shown = list(IPLocation("192.0.2.1", False).to_dict())
    location = defs["IPLocation"]
    location["properties"] = {k: location["properties"][k] for k in shown}
    location["required"] = shown
    location["description"] = "Where the IP address is, per the GeoIP databases."
    result = defs["ScreeningResult"]["properties"]
    result["ip_location"] = {**_ref("IPLocation"), "description": result["ip_location"]["description"]}
    result["profile"] = {**_ref("ProfileSnapshot"), "description": result["profile"]["description"]}
    result["risk_score"]["anyOf"][0].update(minimum=0.01, maximum=99)
    return defs


def _obj(properties: dict[str, Any], *, required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """An object schema; every property required unless ``required`` says otherwise."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        **extra,
    }


def _schemas() -> dict[str, Any]:
    order_schema = OrderRequest.model_json_schema(ref_template=_REF)
    order_defs = order_schema.pop("$defs", {})
    list_entry = _obj({
        "list": {"enum": list(LIST_NAMES)},
        "kind": {"enum": list(LIST_KINDS)},
        "value": {"type": "string", "description": "The normalised value."},
        "note": {"type": "string"},
        "created_at": _TIME,
    })
    return {
        "OrderRequest": order_schema,
        **order_defs,
        **_answer_schemas(),
        "StoredOrder": {
            "description": "A stored score answer with the order's latest outcome.",
            "allOf": [_ref("ScreeningResult"), _obj({
                "outcome": _nullable({"enum": list(OUTCOMES)}),
                "outcome_at": _nullable(_TIME),
            })],
        },
        "OutcomeRecorded": _obj({
            "id": {"type": "string", "description": "The fraudscreen id of the order."},
            "order_id": _nullable({"type": "string", "description": "Its event.transaction_id."}),
            "outcome": {"enum": list(OUTCOMES)},
            "outcome_at": _TIME,
        }, required=["id", "order_id", "outcome", "outcome_at"],
            description="The outcome that now counts for the order (the latest reported_at): the "
                        "order itself is read with GET /v1/orders/{id} (scope score)."),
        "OutcomeRequest": _obj({
            "outcome": {"enum": list(OUTCOMES)},
            "reported_at": _nullable({**_TIME, "description": "When the outcome became known "
                                      "(default: now); at most a day ahead of the server's clock, "
                                      "1970 to 2099."}),
        }, required=["outcome"]),
        "AccountProfile": _obj({
            "account_id": {"type": "string"},
            "at": _TIME,
            "profile": _ref("ProfileSnapshot"),
        }),
        "ListEntryRequest": _obj({
            "kind": {"enum": list(LIST_KINDS)},
            "value": {"type": "string", "pattern": r"\S", "description":
                      "An IP or CIDR network, a domain, a 64-hex-digit email hash, a 6 or 8 digit "
                      "BIN, a country code, a device id or an account id, as `kind` says."},
            "note": {"type": "string", "maxLength": NOTE_MAX, "description":
                     f"Why the entry exists: at most {NOTE_MAX} characters once stripped, "
                     "no card number, no email address."},
        }, required=["kind", "value"]),
        "ListEntry": list_entry,
        "ListEntries": _obj({"entries": {"type": "array", "items": _ref("ListEntry")}}),
        "ListEntryRemoved": _obj({"removed": {"const": True}}),
        "ErasureReport": _obj({
            "erasure_id": {"type": "string"},
            "account_id": {"type": "string"},
            "held": {"type": "boolean", "description": "Whether anything was held on the account: "
                     "false for an id nothing names (a mistyped one) or an erasure repeated."},
            "removed": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
            "kept": {"type": "array", "items": _obj({"what": {"type": "string"},
                                                     "why": {"type": "string"}})},
        }),
        "AccountExport": _obj({
            "format": {"type": "string"},
            "account_id": {"type": "string"},
            "exported_at": _TIME,
        }, description="Everything held on the account (orders, guest orders with its own email "
                       "hash, outcomes, lists, audit).",
           additionalProperties=True),
        "ModelReloadRequest": {
            "type": "object",
            "properties": {"path": {"type": ["string", "null"], "minLength": 1, "description":
                                    "A .joblib bundle under models/ (relative) or in the "
                                    "configured model's folder; absent or null: the "
                                    "configured one."}},
            "additionalProperties": False,
        },
        "ModelReloadResult": _obj({
            "model_version": _nullable({"type": "string"}),
            "trained_at": _nullable({"type": "string"}),
            "path": {"type": "string"},
            "thresholds": _nullable(_obj({"review": {"type": "number"},
                                          "reject": {"type": "number"}})),
            "previous_version": _nullable({"type": "string"}),
        }),
        "Readiness": _obj({
            "ready": {"type": "boolean"},
            "problems": {"type": "object", "additionalProperties": {"type": "string"},
                         "description": "Part (store, geoip, model, rules...) -> what is wrong."},
            "model_version": _nullable({"type": "string"}),
            "rules_version": _nullable({"type": "string"}),
            "model_rules_version": _nullable({
                "type": "string",
                "description": "The rules the model's thresholds were chosen with (the review "
                               "capacity is shared with them); null for a bundle that does not "
                               "say. When it is not rules_version, the review share drifts from "
                               "the capacity: retrain with the live rules."}),
            "geoip": {"type": "object", "additionalProperties": _obj(
                {"available": {"type": "boolean"}, "type": {"type": "string"},
                 "build_date": {"type": "string"}, "file": {"type": "string"}},
                required=["available"])},
            "last_reload": _nullable(_obj({
                "at": {"type": "string", "format": "date-time"},
                "parts": {"type": "object", "additionalProperties": {"type": "string"},
                          "description": "model, rules, geoip -> `loaded ...` or `kept what was "
                                         "in use: <why>`"},
            }, description="This worker's last reload on SIGHUP; null before the first.")),
        }),
        "Health": _obj({"status": {"const": "ok"}}),
        "Error": _obj({"error": _obj({
            "code": {"type": "string", "description": "Stable code: invalid_request, "
                     "card_number_refused, unauthorized, forbidden, not_found, ..."},
            "message": {"type": "string"},
            "details": {"type": "array", "items": _obj({
                "pointer": {"type": "string", "description": "JSON pointer of the field."},
                "message": {"type": "string"},
            })},
        })}),
    }


def _json(schema: str, description: str = "OK", **extra: Any) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": _ref(schema)}}, **extra}


def _error_responses() -> dict[str, Any]:
    out = {str(code): _json("Error", text) for code, text in _ERRORS.items()}
    out["401"]["headers"] = {"WWW-Authenticate": {
        "description": 'The challenge: `Bearer realm="fraudscreen"`.', "schema": {"type": "string"}}}
    out["default"] = _json("Error", "Any other error: 405 (with an `Allow` header naming the "
                                     "methods the path serves), 500.")
    return out


def _op(summary: str, ok: dict[str, Any], *codes: int, ok_status: int = 200,
        **extra: Any) -> dict[str, Any]:
    """An operation answering ``ok`` and the error ``codes`` (plus ``default``)."""
    responses = {str(ok_status): ok}
    responses.update({str(c): {"$ref": f"#/components/responses/E{c}"} for c in codes})
    responses["default"] = {"$ref": "#/components/responses/Edefault"}
    return {"summary": summary, **extra, "responses": responses}


def _path_param(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", **schema}}


def _query(name: str, description: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema}


def _body(schema: str, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": _ref(schema)}}}


_SLASHES = ("; it may contain `/` (also sent as `%2F`), but no control characters (400)")
_ORDER_ID = _path_param("id", "fraudscreen's order `id` or the checkout's `event.transaction_id`"
                        + _SLASHES + ". An id ending in `/outcome` names the outcome route.",
                        minLength=1)
_ACCOUNT_ID = _path_param("id", "The account's `account.user_id`" + _SLASHES + ".", minLength=1)
_LIST = _path_param("list", "The list.", enum=list(LIST_NAMES))
_AUTH = (400, 401, 403, 503)  # a bad path id or query, no key, no scope, no database


def _paths() -> dict[str, Any]:
    replayed = {"Idempotent-Replayed": {
        "description": "`true` when the transaction id was screened before with the same body "
                       "and this is the stored answer (nothing new was stored); absent otherwise.",
        "schema": {"const": "true"}}}
    add_entry = _op("Add a list entry, or update its note (admin)", _json("ListEntry", "Added"),
                    *_AUTH, 413, 415, ok_status=201, requestBody=_body("ListEntryRequest"))
    add_entry["responses"]["200"] = _json(
        "ListEntry", "It was on the list already: its note is the one given, or kept when the "
                     "body has none")
    return {
        "/v1/score": {"post": _op(
            "Screen one order", _json("ScreeningResult", headers=replayed), 400, 401, 403, 409, 413, 415, 503,
            requestBody=_body("OrderRequest"))},
        "/v1/orders/{id}": {"parameters": [_ORDER_ID], "get": _op(
            "A stored order (scope score)", _json("StoredOrder"), *_AUTH, 404)},
        "/v1/orders/{id}/outcome": {"parameters": [_ORDER_ID], "post": _op(
            "Report an order's outcome (scope outcomes)", _json("OutcomeRecorded"),
            *_AUTH, 404, 409, 413, 415, requestBody=_body("OutcomeRequest"))},
        "/v1/accounts/{id}/profile": {"parameters": [_ACCOUNT_ID], "get": _op(
            "An account fraud profile (scope score)", _json("AccountProfile"), *_AUTH, 404,
            parameters=[_query("at", "The profile as of this RFC 3339 time (default: now), "
                               "1970 to 2099; a time without offset is UTC.", _TIME)])},
        "/v1/accounts/{id}/export": {"parameters": [_ACCOUNT_ID], "get": _op(
            "Everything held on an account (admin)", _json("AccountExport"), *_AUTH, 404)},
        "/v1/accounts/{id}": {"parameters": [{
            **_ACCOUNT_ID, "description": _ACCOUNT_ID["description"] + " An id ending in "
            "`/profile` or `/export` names those routes (405); erase it with `fraudscreen erase`."},
        ], "delete": _op("Erase an account's personal data (admin; idempotent)",
                         _json("ErasureReport"), *_AUTH)},
        "/v1/admin/model/reload": {"post": _op(
            "Reload the model bundle in this worker (admin)", _json("ModelReloadResult"),
            400, 401, 403, 413, 415, 503, requestBody=_body("ModelReloadRequest", required=False))},
        "/v1/lists": {"get": _op(
            "List entries (admin)", _json("ListEntries"), *_AUTH,
            parameters=[_query("list", "Only this list's entries.", {"enum": list(LIST_NAMES)})])},
        "/v1/lists/{list}": {
            "parameters": [_LIST],
            "post": add_entry,
            "delete": _op("Remove a list entry (admin)", _json("ListEntryRemoved"), *_AUTH, 404,
                          parameters=[
                              _query("kind", "The entry's kind.", {"enum": list(LIST_KINDS)}, True),
                              _query("value", "The entry's value (normalised as when added).",
                                     {"type": "string", "minLength": 1}, True)]),
        },
        "/healthz": {"get": _op("Liveness", _json("Health"), security=[])},
        "/readyz": {"get": {
            "summary": "Readiness: database, GeoIP, model and rules", "security": [],
            "responses": {"200": _json("Readiness", "Ready"),
                          "503": _json("Readiness", "Not ready: `problems` names the missing parts"),
                          "default": {"$ref": "#/components/responses/Edefault"}}}},
        "/metrics": {"get": _op("Prometheus metrics", {
            "description": "The Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}}}, security=[])},
        "/openapi.json": {"get": _op("This document", {
            "description": "The OpenAPI 3.1 document",
            "content": {"application/json": {"schema": {"type": "object"}}}}, security=[])},
    }


def _per_operation(paths: dict[str, Any]) -> dict[str, Any]:
    """Path parameters repeated on each operation (tools that read operations alone see them)."""
    for item in paths.values():
        shared = item.pop("parameters", [])
        for op in item.values():
            if shared or "parameters" in op:
                op["parameters"] = shared + op.get("parameters", [])
    return paths


@functools.cache
def openapi_document() -> dict[str, Any]:
    """Build (once) the OpenAPI description served at ``/openapi.json``."""
    errors = _error_responses()
    return {
        "openapi": "3.1.0",
        "info": {"title": "fraudscreen", "version": __version__},
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
            "responses": {f"E{code}": response for code, response in errors.items()},
        },
        "security": [{"apiKey": []}],
        "paths": _per_operation(_paths()),
    }
