"""The served OpenAPI document tells the truth: it is valid OpenAPI 3.1, every status an
operation answers is documented for it, real answers validate against the documented schemas,
and the request schema refuses what the service refuses. Also the error headers (Allow,
WWW-Authenticate) and the routes of ids that end like another route."""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from json import dumps
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.test import TestResponse

from fraudscreen.api import create_app
from fraudscreen.errors import InvalidRequestError
from fraudscreen.schema import parse_order
from fraudscreen.store import open_store

from helpers import auth, make_settings, order_body

SQLITE = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
_BASE = "urn:fraudscreen:openapi"


def _spec(client: FlaskClient) -> dict[str, Any]:
    spec: dict[str, Any] = client.get("/openapi.json").get_json()
    return spec


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator of ``schema`` whose ``#/components/...`` references resolve in ``spec``."""
    registry: Registry[Any] = Registry().with_resource(
        _BASE, Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    ref = schema.get("$ref", "")
    target = {"$ref": _BASE + ref} if ref.startswith("#") else schema
    return Draft202012Validator(
        target, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _documented(spec: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    """The documented response of an operation for ``status`` (``default`` if not listed)."""
    responses = spec["paths"][path][method]["responses"]
    response = responses.get(str(status), responses["default"])
    ref = response.get("$ref")
    if ref:
        response = spec["components"]["responses"][ref.rsplit("/", 1)[1]]
    return response  # type: ignore[no-any-return]


def _check_body(spec: dict[str, Any], path: str, method: str, response: TestResponse) -> None:
    """The JSON body of ``response`` validates against what the document says for its status."""
    documented = _documented(spec, path, method, response.status_code)
    content = documented["content"]
    if "application/json" not in content:
        assert response.mimetype in content, (path, method, response.mimetype)
        return
    assert response.mimetype == "application/json"
    schema = content["application/json"]["schema"]
    errors = [e.message for e in _validator(spec, schema).iter_errors(response.get_json())]
    assert errors == [], (path, method, response.status_code, errors[:3])


@SQLITE
def test_served_document_is_valid_openapi_31(client: FlaskClient) -> None:
    spec = _spec(client)
    errors = [str(e).splitlines()[0] for e in OpenAPIV31SpecValidator(spec).iter_errors()]
    assert errors == []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), (method, path)
    lists = spec["paths"]["/v1/lists/{list}"]["post"]["parameters"][0]["schema"]["enum"]
    assert lists == ["allow", "block", "review"]


@SQLITE
def test_parameters_and_bodies_are_documented(client: FlaskClient) -> None:
    paths = _spec(client)["paths"]
    assert "/metrics" in paths and "/openapi.json" in paths

    def params(path: str, method: str) -> dict[str, bool]:
        return {p["name"]: p["required"] for p in paths[path][method]["parameters"]
                if p["in"] == "query"}

    assert params("/v1/accounts/{id}/profile", "get") == {"at": False}
    assert params("/v1/lists", "get") == {"list": False}
    assert params("/v1/lists/{list}", "delete") == {"kind": True, "value": True}
    assert paths["/v1/orders/{id}/outcome"]["post"]["requestBody"]["required"] is True
    assert paths["/v1/lists/{list}"]["post"]["requestBody"]["required"] is True
    assert paths["/v1/admin/model/reload"]["post"]["requestBody"]["required"] is False


@SQLITE
def test_request_body_schemas_match_the_real_limits(client: FlaskClient) -> None:
    schemas = _spec(client)["components"]["schemas"]
    entry = schemas["ListEntryRequest"]
    assert entry["properties"]["note"]["maxLength"] == 500
    assert set(entry["required"]) == {"kind", "value"}
    assert "email_hash" in entry["properties"]["kind"]["enum"]
    assert schemas["ModelReloadRequest"]["additionalProperties"] is False


Call = Callable[[FlaskClient, dict[str, str]], TestResponse]
_BIG = b'{"x": "' + b"a" * 70_000 + b'"}'
_JSON = {"Content-Type": "application/json"}


def _h(key: str | None, keys: dict[str, str]) -> dict[str, str]:
    return auth(keys[key]) if key else {}


def _get(url: str, key: str | None = None) -> Call:
    return lambda c, k: c.get(url, headers=_h(key, k))


def _delete(url: str, key: str | None = None) -> Call:
    return lambda c, k: c.delete(url, headers=_h(key, k))


def _post(url: str, key: str | None = None, json: Any = None, data: bytes | None = None) -> Call:
    if data is not None:
        return lambda c, k: c.post(url, data=data, headers={**_h(key, k), **_JSON})
    return lambda c, k: c.post(url, json=json, headers=_h(key, k))


def _gzipped(url: str, key: str, json: Any) -> Call:
    body = gzip.compress(dumps(json).encode())
    return lambda c, k: c.post(url, data=body, headers={**_h(key, k), **_JSON, "Content-Encoding": "gzip"})


_ORDER = "/v1/orders/{id}"
_OUTCOME = "/v1/orders/{id}/outcome"
_PROFILE = "/v1/accounts/{id}/profile"
_EXPORT = "/v1/accounts/{id}/export"
_ACCOUNT = "/v1/accounts/{id}"
_RELOAD = "/v1/admin/model/reload"
_LIST = "/v1/lists/{list}"
_ENTRY = {"kind": "ip", "value": "203.0.113.9", "note": "card testing"}

# (path template, method, call, the status it answers); run in order, on one app
CASES: list[tuple[str, str, Call, int]] = [
    ("/v1/score", "post", _post("/v1/score", "score", order_body()), 200),
    ("/v1/score", "post", _post("/v1/score", "score", {"device": {}}), 400),
    ("/v1/score", "post", _gzipped("/v1/score", "score", order_body()), 415),
    ("/v1/score", "post", _post("/v1/score", None, order_body()), 401),
    ("/v1/score", "post", _post("/v1/score", "outcomes", order_body()), 403),
    ("/v1/score", "post", _post("/v1/score", "score", data=_BIG), 413),
    ("/v1/score", "put", lambda c, k: c.put("/v1/score", headers=auth(k["score"])), 405),
    (_ORDER, "get", _get("/v1/orders/t-1", "score"), 200),
    (_ORDER, "get", _get("/v1/orders/t%01", "score"), 400),
    (_ORDER, "get", _get("/v1/orders/t-1"), 401),
    (_ORDER, "get", _get("/v1/orders/t-1", "outcomes"), 403),
    (_ORDER, "get", _get("/v1/orders/nope", "score"), 404),
    (_OUTCOME, "post", _post("/v1/orders/t-1/outcome", "outcomes", {"outcome": "fraud"}), 200),
    (_OUTCOME, "post", _post("/v1/orders/t-1/outcome", "outcomes", {"outcome": "x"}), 400),
    (_OUTCOME, "post", _post("/v1/orders/t-1/outcome", "outcomes", data=b""), 400),
    (_OUTCOME, "post", _post("/v1/orders/t-1/outcome", None, {"outcome": "fraud"}), 401),
    (_OUTCOME, "post", _post("/v1/orders/t-1/outcome", "score", {"outcome": "fraud"}), 403),
    (_OUTCOME, "post", _post("/v1/orders/nope/outcome", "outcomes", {"outcome": "fraud"}), 404),
    (_OUTCOME, "post", _post("/v1/orders/t-1/outcome", "outcomes", data=_BIG), 413),
    (_OUTCOME, "post", _gzipped("/v1/orders/t-1/outcome", "outcomes", {"outcome": "fraud"}), 415),
    (_OUTCOME, "get", _get("/v1/orders/t-1/outcome", "admin"), 405),
    (_PROFILE, "get", _get("/v1/accounts/acct-a/profile?at=2026-11-21T00:00:00Z", "score"), 200),
    (_PROFILE, "get", _get("/v1/accounts/acct-a/profile?at=garbage", "score"), 400),
    (_PROFILE, "get", _get("/v1/accounts/acct-a/profile?at=2150-01-01T00:00:00Z", "score"), 400),
    (_PROFILE, "get", _get("/v1/accounts/acct-a/profile"), 401),
    (_PROFILE, "get", _get("/v1/accounts/acct-a/profile", "outcomes"), 403),
    (_PROFILE, "get", _get("/v1/accounts/nobody/profile", "score"), 404),
    (_EXPORT, "get", _get("/v1/accounts/acct-a/export", "admin"), 200),
    (_EXPORT, "get", _get("/v1/accounts/a%1b/export", "admin"), 400),
    (_EXPORT, "get", _get("/v1/accounts/acct-a/export"), 401),
    (_EXPORT, "get", _get("/v1/accounts/acct-a/export", "score"), 403),
    (_EXPORT, "get", _get("/v1/accounts/nobody/export", "admin"), 404),
    (_ACCOUNT, "delete", _delete("/v1/accounts/shop/gone", "admin"), 200),
    (_ACCOUNT, "delete", _delete("/v1/accounts/a%00", "admin"), 400),
    (_ACCOUNT, "delete", _delete("/v1/accounts/gone"), 401),
    (_ACCOUNT, "delete", _delete("/v1/accounts/gone", "score"), 403),
    (_RELOAD, "post", lambda c, k: c.post(_RELOAD, headers=auth(k["admin"])), 200),
    (_RELOAD, "post", _post(_RELOAD, "admin", {"path": "x.joblib", "force": True}), 400),
    (_RELOAD, "post", _post(_RELOAD, None, {}), 401),
    (_RELOAD, "post", _post(_RELOAD, "score", {}), 403),
    (_RELOAD, "post", _post(_RELOAD, "admin", data=_BIG), 413),
    (_RELOAD, "post", _gzipped(_RELOAD, "admin", {}), 415),
    ("/v1/lists", "get", _get("/v1/lists?list=block", "admin"), 200),
    ("/v1/lists", "get", _get("/v1/lists?list=nope", "admin"), 400),
    ("/v1/lists", "get", _get("/v1/lists"), 401),
    ("/v1/lists", "get", _get("/v1/lists", "score"), 403),
    (_LIST, "post", _post("/v1/lists/block", "admin", _ENTRY), 201),
    (_LIST, "post", _post("/v1/lists/block", "admin", {"kind": _ENTRY["kind"], "value": _ENTRY["value"]}), 200),
    (_LIST, "post", _post("/v1/lists/block", "admin", {**_ENTRY, "note": "n" * 501}), 400),
    (_LIST, "post", _post("/v1/lists/nope", "admin", _ENTRY), 400),
    (_LIST, "post", _post("/v1/lists/block", None, _ENTRY), 401),
    (_LIST, "post", _post("/v1/lists/block", "score", _ENTRY), 403),
    (_LIST, "post", _post("/v1/lists/block", "admin", data=_BIG), 413),
    (_LIST, "post", _gzipped("/v1/lists/block", "admin", _ENTRY), 415),
    (_LIST, "delete", _delete("/v1/lists/block?kind=ip&value=203.0.113.9", "admin"), 200),
    (_LIST, "delete", _delete("/v1/lists/block?kind=nope&value=x", "admin"), 400),
    (_LIST, "delete", _delete("/v1/lists/block?kind=ip&value=203.0.113.9"), 401),
    (_LIST, "delete", _delete("/v1/lists/block?kind=ip&value=203.0.113.9", "score"), 403),
    (_LIST, "delete", _delete("/v1/lists/block?kind=ip&value=203.0.113.9", "admin"), 404),
    ("/healthz", "get", _get("/healthz"), 200),
    ("/readyz", "get", _get("/readyz"), 200),
    ("/metrics", "get", _get("/metrics"), 200),
    ("/openapi.json", "get", _get("/openapi.json"), 200),
]
NOT_PROVOKED = {"409", "503"}
"""Documented codes these calls cannot provoke: a race with an erasure, a database outage
(``/readyz`` 503 has its own test)."""


@SQLITE
def test_every_answered_status_is_documented_and_its_body_validates(
    client: FlaskClient, keys: dict[str, str]
) -> None:
    spec = _spec(client)
    seen: dict[tuple[str, str], set[str]] = {}
    for path, method, call, expected in CASES:
        response = call(client, keys)
        assert response.status_code == expected, (method, path, response.get_json())
        documented = spec["paths"][path].get(method)
        if documented is None:  # a method the path does not serve: the other methods' default
            assert expected == 405
            assert all("default" in op["responses"] for op in spec["paths"][path].values())
            method = next(iter(spec["paths"][path]))
        else:
            assert str(expected) in documented["responses"], f"{method} {path} -> {expected}"
            seen.setdefault((path, method), set()).add(str(expected))
        _check_body(spec, path, method, response)
    for path, item in spec["paths"].items():
        for method, op in item.items():
            listed = set(op["responses"]) - {"default"} - NOT_PROVOKED
            assert listed <= seen.get((path, method), set()), f"{method} {path}: never {listed}"


def test_readyz_503_is_documented_and_its_body_validates(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'fs.db'}",
                             rules_path=str(tmp_path / "none.toml"))
    open_store(settings).close()
    client = create_app(settings).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503 and "rules" in response.get_json()["problems"]
    _check_body(_spec(client), "/readyz", "get", response)
    client.application.extensions["fraudscreen"].store.close()


@SQLITE
def test_score_answers_validate_against_the_documented_schema(
    client: FlaskClient, keys: dict[str, str]
) -> None:
    spec = _spec(client)
    documented = spec["paths"]["/v1/score"]["post"]["responses"]["200"]
    assert "Idempotent-Replayed" in documented["headers"]
    properties = spec["components"]["schemas"]["ScreeningResult"]["properties"]
    headers = auth(keys["score"])
    review = client.post("/v1/score", json=order_body(), headers=headers)
    accept = client.post("/v1/score", headers=headers, json=order_body(
        device__ip_address="2.125.160.216", event__transaction_id="t-2"))
    private = client.post("/v1/score", headers=headers, json=order_body(
        device__ip_address="10.1.2.3", event__transaction_id="t-3", surprise="x"))
    replayed = client.post("/v1/score", json=order_body(), headers=headers)
    assert [r.get_json()["decision"] for r in (review, accept)] == ["review", "accept"]
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert private.get_json()["warnings"]
    for response in (review, accept, private, replayed):
        assert response.status_code == 200
        assert set(response.get_json()) == set(properties)  # no undocumented member either
        _check_body(spec, "/v1/score", "post", response)


def test_an_answer_without_a_model_validates(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'fs.db'}",
                             model_path=tmp_path / "nope.joblib")
    open_store(settings).close()
    client = create_app(settings).test_client()
    key = client.application.extensions["fraudscreen"].sql_store.create_api_key("k", ["score"])[1]
    response = client.post("/v1/score", json=order_body(), headers=auth(key))
    assert response.get_json()["risk_score"] is None
    _check_body(_spec(client), "/v1/score", "post", response)
    client.application.extensions["fraudscreen"].store.close()


@SQLITE
def test_the_schema_validator_catches_a_wrong_answer(client: FlaskClient) -> None:
    """The check above can fail: a decision outside the enum or a string score is refused."""
    spec = _spec(client)
    schema = spec["paths"]["/v1/score"]["post"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    validator = _validator(spec, schema)
    good = {"id": "x", "order_id": None, "decision": "accept", "risk_score": 1.0,
            "disposition": "model", "reasons": [], "ip_location": {}, "profile": {},
            "model_version": None, "rules_version": None, "warnings": []}
    assert not validator.is_valid({**good, "decision": "maybe"})
    assert not validator.is_valid({**good, "risk_score": "1"})
    assert not validator.is_valid({**good, "reasons": [{"code": "X"}]})


# (pointer, value, what the document says, accepted by the service?)
REQUEST_EXAMPLES = [
    ("billing/country", "gbr", False),
    ("billing/country", "gb", True),
    ("credit_card/country", "Gb", True),
    ("order/currency", "pounds", False),
    ("order/currency", "eur", True),
    ("email/address", "x", False),
    ("email/address", "a b@example.org", False),
    ("email/address", "jane@example", False),
    ("email/address", "jane@example.org", True),
    ("email/address", "a@b@example.org", True),
    ("device/ip_address", "x", False),
    ("device/ip_address", "256.1.1.1", False),
    ("device/ip_address", "2001:db8::1", True),
    ("device/ip_address", "::ffff:81.2.69.142", True),
    ("event/time", "2150-01-01T00:00:00Z", False),
    ("event/time", "1969-12-31T00:00:00Z", False),
    ("event/time", "2026-01-01T00:00:00Z", True),
    ("account/created_at", "2099-12-31T00:00:00Z", True),
    ("event/transaction_id", "   ", False),
    ("event/transaction_id", "\u00a0\t", False),
    ("event/transaction_id", " t-9 ", True),
    ("event/transaction_id", "t\x01", False),
    ("account/user_id", " ", False),
    ("account/user_id", "u 1", True),
    ("device/id", "\u2003", False),
]


@SQLITE
@pytest.mark.parametrize(("pointer", "value", "accepted"), REQUEST_EXAMPLES)
def test_request_schema_says_what_the_service_accepts(
    client: FlaskClient, pointer: str, value: str, accepted: bool
) -> None:
    part, field = pointer.split("/")
    body = order_body(**{f"{part}__{field}": value})
    spec = _spec(client)
    schema_says = _validator(spec, {"$ref": "#/components/schemas/OrderRequest"}).is_valid(body)
    try:
        parse_order(body)
        service_says = True
    except InvalidRequestError:
        service_says = False
    assert (schema_says, service_says) == (accepted, accepted)


@SQLITE
def test_405_names_the_allowed_methods_in_a_json_error(client: FlaskClient) -> None:
    response = client.put("/v1/score")
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["Allow"].split(",")} >= {"POST"}
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert response.headers["Content-Type"] == "application/json"


@SQLITE
def test_401_carries_the_bearer_challenge(client: FlaskClient) -> None:
    for headers in ({}, auth("not-a-key"), {"Authorization": "Basic eDp5"}):
        response = client.post("/v1/score", json=order_body(), headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "WWW-Authenticate" not in client.get("/healthz").headers


@SQLITE
@pytest.mark.parametrize(("method", "url", "allowed"), [
    ("DELETE", "/v1/accounts/cust-42/profile", "GET"),
    ("DELETE", "/v1/accounts/cust-42/export", "GET"),
    ("DELETE", "/v1/accounts/shop/7/profile", "GET"),
    ("GET", "/v1/orders/X/outcome", "POST"),
    ("POST", "/v1/accounts/cust-42/profile", "GET"),
])
def test_an_id_ending_like_a_sub_route_is_that_route(
    client: FlaskClient, keys: dict[str, str], method: str, url: str, allowed: str
) -> None:
    """``DELETE /v1/accounts/cust-42/profile`` is not the erasure of account "cust-42/profile"."""
    response = client.open(url, method=method, headers=auth(keys["admin"]))
    assert response.status_code == 405, response.get_json()
    allow = {m.strip() for m in response.headers["Allow"].split(",")}
    assert allowed in allow and "DELETE" not in allow
    assert response.get_json()["error"]["code"] == "method_not_allowed"


@SQLITE
def test_ids_with_a_slash_still_reach_their_routes(client: FlaskClient, keys: dict[str, str]) -> None:
    admin, score = auth(keys["admin"]), auth(keys["score"])
    body = order_body(account__user_id="shop/42", event__transaction_id="tx/outcomes")
    assert client.post("/v1/score", json=body, headers=score).status_code == 200
    assert client.get("/v1/orders/tx/outcomes", headers=score).status_code == 200
    assert client.get("/v1/accounts/shop/42/profile", headers=score).status_code == 200
    erased = client.delete("/v1/accounts/shop/42", headers=admin)
    assert erased.status_code == 200 and erased.get_json()["account_id"] == "shop/42"
    assert erased.get_json()["removed"]["orders"] == 1
