"""Admin API: the allow / block / review lists that rules read at run time."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, request

from fraudscreen.api.auth import require_scope
from fraudscreen.api.v1 import json_object, text_problem
from fraudscreen.errors import ErrorDetail, InvalidRequestError, NotFoundError
from fraudscreen.rules import LIST_KINDS, LIST_NAMES
from fraudscreen.rules.lists import entry_to_remove, make_list_entry

bp = Blueprint("admin", __name__, url_prefix="/v1/lists")


def _check(pointer: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidRequestError(
            "Invalid list entry.", details=[ErrorDetail(pointer, f"must be one of {', '.join(allowed)}")]
        )
    return str(value)


def _text(body: dict[str, object], name: str) -> str:
    """``body[name]`` as text ("" when absent); a 400 naming the field if it is not a string
    or holds what the database cannot store (NUL, a lone surrogate from a ``\\ud800`` escape)."""
    value = body.get(name, "")
    problem = text_problem(value) if isinstance(value, str) else "must be a string"
    if problem is not None:
        raise InvalidRequestError("Invalid list entry.", details=[ErrorDetail(f"/{name}", problem)])
    return value  # type: ignore[return-value]


def _row_json(row: object) -> dict[str, object]:
    return {
        "list": row.list_name,  # type: ignore[attr-defined]
        "kind": row.kind,  # type: ignore[attr-defined]
        "value": row.value,  # type: ignore[attr-defined]
        "note": row.note,  # type: ignore[attr-defined]
        "created_at": row.created_at.isoformat(),  # type: ignore[attr-defined]
    }


@bp.get("")
@require_scope("admin")
def list_entries() -> Response:
    """Every list entry, or those of ``?list=allow|block|review``."""
    name = request.args.get("list")
    if name is not None:
        _check("/list", name, LIST_NAMES)
    rows = current_app.extensions["fraudscreen"].sql_store.list_entries(name)
    return jsonify({"entries": [_row_json(r) for r in rows]})


@bp.post("/<list_name>")
@require_scope("admin")
def add_entry(list_name: str) -> tuple[Response, int]:
    """Add ``{"kind", "value", "note"}`` to a list; a note longer than
    :data:`fraudscreen.rules.lists.NOTE_MAX` is refused (400 naming ``/note``), not cut."""
    _check("/list", list_name, LIST_NAMES)
    body = json_object(("kind", "value", "note"))
    kind = _check("/kind", body.get("kind"), LIST_KINDS)
    entry = make_list_entry(list_name, kind, _text(body, "value"), _text(body, "note"))
    screener = current_app.extensions["fraudscreen"]
    row, added = screener.sql_store.add_list_entry(  # without "note" an entry keeps its own
        list_name, kind, entry.value, entry.note if "note" in body else None, actor=g.api_key.name
    )
    screener.invalidate_lists()
    return jsonify(_row_json(row)), 201 if added else 200


@bp.delete("/<list_name>")
@require_scope("admin")
def remove_entry(list_name: str) -> Response:
    """Remove ``?kind=&value=`` from a list."""
    _check("/list", list_name, LIST_NAMES)
    kind = _check("/kind", request.args.get("kind"), LIST_KINDS)
    entry = entry_to_remove(list_name, kind, request.args.get("value", ""))
    screener = current_app.extensions["fraudscreen"]
    if not screener.sql_store.remove_list_entry(list_name, kind, entry.value, actor=g.api_key.name):
        raise NotFoundError("No such list entry.")
    screener.invalidate_lists()
    return jsonify({"removed": True})
