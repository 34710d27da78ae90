"""The checkout's API: score an order, report its outcome, read orders and profiles."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from fraudscreen import jsontext
from fraudscreen.api.auth import require_scope
from fraudscreen.api.metrics import DECISIONS
from fraudscreen.errors import (
    ErrorDetail,
    InvalidRequestError,
    NotFoundError,
    RequestTooLargeError,
    UnsupportedEncodingError,
)
from fraudscreen.jsontext import NotAJsonNumber, RepeatedKey
from fraudscreen.pointers import safe_pointer_token
from fraudscreen.schema import MAX_CLOCK_SKEW, OUTCOMES, parse_time, refuse_card_numbers
from fraudscreen.screening import Screener

bp = Blueprint("v1", __name__, url_prefix="/v1")


def _screener() -> Screener:
    return current_app.extensions["fraudscreen"]  # type: ignore[no-any-return]


def request_body() -> bytes:
    """The body's bytes; a 413 error when there are more than ``MAX_CONTENT_LENGTH``, a 415
    when it is compressed (it was read as JSON and answered "not valid JSON")."""
    if request.headers.get("Content-Encoding", "").strip().lower() not in ("", "identity"):
        raise UnsupportedEncodingError(
            "Compressed bodies (Content-Encoding) are not supported: send the body as it is.",
            details=[ErrorDetail("", "is compressed")])
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and request.content_length is None:
        # a chunked body has no Content-Length, and werkzeug cuts it at the limit without a
        # word: reading one byte more tells a body of exactly the limit from a longer one
        request.max_content_length = limit + 1
        data = request.get_data(cache=True)
        if len(data) > limit:
            raise RequestTooLargeError(f"The body is larger than {limit} bytes.")
        return data
    data = request.get_data(cache=True)  # werkzeug answers a longer Content-Length with a 413
    if request.content_length is not None and len(data) < request.content_length:
        raise InvalidRequestError(  # the client stopped early: not the order it meant to send
            "The body is shorter than its Content-Length.",
            details=[ErrorDetail("", "ended before its Content-Length")])
    return data


def json_body() -> Any:
    """The decoded JSON body (RFC 8259: :mod:`fraudscreen.jsontext`), or a 400 error (also for
    nesting too deep to decode, and for ``null``)."""
    data = request_body()
    try:
        body = jsontext.loads(data)
    except (NotAJsonNumber, RepeatedKey):
        refused = jsontext.refused_pointers(data)
        if refused:
            raise InvalidRequestError(
                "The body must be JSON.", details=[ErrorDetail(p, why) for p, why in refused]
            ) from None
        body = None  # not JSON for another reason as well
    except RecursionError:  # "[" * 1000, before the size limit
        raise InvalidRequestError(
            "The body must be JSON.", details=[ErrorDetail("", "is nested too deeply")]
        ) from None
    except ValueError:
        body = None
    if body is None:
        raise InvalidRequestError(
            "The body must be JSON.", details=[ErrorDetail("", "is not valid JSON")]
        )
    return body


def json_object(members: Collection[str]) -> dict[str, Any]:
    """The body as a JSON object of only these ``members``: a 400 for anything else, for a
    full card number anywhere (``card_number_refused``) and for an unknown member (named, but
    not when its name holds an e-mail address or a card number)."""
    body = json_body()
    if not isinstance(body, dict):
        raise InvalidRequestError("The body must be an object.", details=[ErrorDetail("", "must be an object")])
    refuse_card_numbers(body)
    unknown = [key for key in body if key not in members]
    if unknown:
        known = ", ".join(sorted(members))
        raise InvalidRequestError(
            "Unknown member in the body; nothing was done.",
            details=[ErrorDetail(f"/{safe_pointer_token(key)}", f"unknown member (the known ones: {known})")
                     for key in unknown],
        )
    return body


def text_problem(value: str) -> str | None:
    """Why a database could not store ``value`` (NUL, a lone surrogate from a ``\\ud800`` JSON
    escape), or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if jsontext.holds_lone_surrogate(value):
        return "must be valid Unicode text (no lone surrogates)"
    return None


def order_response(body: dict[str, Any]) -> Response:
    """Answer with an order's JSON and note its id and decision for the request log."""
    g.order_id, g.decision = body.get("id"), body.get("decision")
    return jsonify(body)


@bp.post("/score")
@require_scope("score")
def score() -> tuple[Response, int]:
    """Screen one order: decision, risk score, reasons, IP location and profile."""
    screened = _screener().screen(json_body())
    response = order_response(screened.response)
    if screened.replayed:  # the stored answer again: no new decision to count
        response.headers["Idempotent-Replayed"] = "true"
    else:
        DECISIONS.labels(screened.response["decision"]).inc()
    return response, 200


def _stored_order(order_id: str) -> Any:
    store = _screener().store
    stored = store.get_order(order_id) or store.find_by_transaction(order_id)
    if stored is None:
        raise NotFoundError("No such order.")
    return stored


def _order_json(stored: Any) -> dict[str, Any]:
    return {
        **stored.response,
        "outcome": stored.outcome,
        "outcome_at": stored.outcome_at.isoformat() if stored.outcome_at else None,
    }


@bp.get("/orders/<order_id:order_id>")
@require_scope("score")
def get_order(order_id: str) -> Response:
    """The stored answer for an order (by fraudscreen id or transaction id) and its outcome."""
    stored = _stored_order(order_id)
    with _screener().sql_store.audited(g.api_key.name, "order.read", stored.order_id,  # P4
                                       account_id=stored.account_id):
        stored = _stored_order(order_id)  # again: an erasure of its account may have come first
    return order_response(_order_json(stored))


@bp.post("/orders/<id:order_id>/outcome")
@require_scope("outcomes")
def report_outcome(order_id: str) -> Response:
    """Label an order later: chargeback, fraud, not_fraud or refund."""
    body = json_object(("outcome", "reported_at"))
    outcome = body.get("outcome")
    if outcome not in OUTCOMES:
        raise InvalidRequestError(
            "Unknown outcome.",
            details=[ErrorDetail("/outcome", f"must be one of {', '.join(OUTCOMES)}")],
        )
    reported_at = datetime.now(UTC)
    if body.get("reported_at") is not None:
        if not isinstance(body["reported_at"], str):
            raise InvalidRequestError(
                "Invalid time.", details=[ErrorDetail("/reported_at", "must be an RFC 3339 time")]
            )
        reported_at = parse_time(body["reported_at"], "/reported_at")
        if reported_at > datetime.now(UTC) + MAX_CLOCK_SKEW:  # the latest report wins: not one from the future
            raise InvalidRequestError(
                "Invalid time.",
                details=[ErrorDetail("/reported_at", "must be at most a day ahead of the server's clock")],
            )
    stored = _stored_order(order_id)
    updated = _screener().store.record_outcome(stored.order_id, outcome, reported_at)
    # the order's ids and its outcome only: a key that may report outcomes may not read orders
    # (their location and profile are personal data, read with the score scope and audited)
    g.order_id = updated.order_id
    return jsonify({"id": updated.order_id, "order_id": updated.response.get("order_id"),
                    "outcome": updated.outcome,
                    "outcome_at": updated.outcome_at.isoformat() if updated.outcome_at else None})


@bp.get("/accounts/<id:account_id>/profile")
@require_scope("score")
def account_profile(account_id: str) -> Response:
    """The account fraud profile as of now (or ``?at=`` an RFC 3339 time)."""
    refuse_card_numbers({"account_id": account_id})  # no account has one; the audit keeps ids
    at = parse_time(request.args["at"], "/at") if "at" in request.args else datetime.now(UTC)
    store = _screener().sql_store
    with store.audited(g.api_key.name, "profile.read", account_id, account_id=account_id):  # P4
        profile = store.get_profile(account_id, at=at)
    return jsonify({"account_id": account_id, "at": at.isoformat(), "profile": profile.to_dict()})
