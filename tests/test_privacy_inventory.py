"""The minimum-data table: every stored column and request field documented, doc == code."""

from __future__ import annotations

import typing
from pathlib import Path

from pydantic import BaseModel

from fraudscreen.privacy.inventory import (
    REQUEST_FIELDS,
    STORED_COLUMNS,
    request_table,
    stored_table,
)
from fraudscreen.schema import OrderRequest
from fraudscreen.store.tables import metadata

DOC = Path(__file__).resolve().parents[1] / "docs" / "privacy.md"


def _model_in(annotation: typing.Any) -> tuple[type[BaseModel] | None, bool]:
    """The pydantic model inside an annotation and whether it sits in a list."""
    stack = [(annotation, False)]
    while stack:
        ann, in_list = stack.pop()
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            return ann, in_list
        origin = typing.get_origin(ann)
        stack.extend((a, in_list or origin is list) for a in typing.get_args(ann))
    return None, False


def request_paths(model: type[BaseModel] = OrderRequest, prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for name, info in model.model_fields.items():
        sub, in_list = _model_in(info.annotation)
        if sub is None:
            paths.add(prefix + name)
        else:
            paths |= request_paths(sub, f"{prefix}{name}{'[]' if in_list else ''}.")
    return paths


def test_every_stored_column_has_exactly_one_row() -> None:
    stored = {f"{t.name}.{c.name}" for t in metadata.tables.values() for c in t.columns}
    documented = [c.name for c in STORED_COLUMNS]
    assert len(documented) == len(set(documented)), "a column is documented twice"
    assert stored - set(documented) == set(), "columns without a row in the data table"
    assert set(documented) - stored == set(), "rows for columns the store does not have"


def test_every_request_field_has_exactly_one_row() -> None:
    accepted = request_paths()
    documented = [f.path for f in REQUEST_FIELDS]
    assert "shopping_cart[].category" in accepted and "billing.first_name" in accepted
    assert len(documented) == len(set(documented))
    assert accepted == set(documented)


def test_names_addresses_and_phones_are_not_kept() -> None:
    by_path = {f.path: f for f in REQUEST_FIELDS}
    for part in ("billing", "shipping"):
        for name in ("first_name", "last_name", "company", "address", "address_2", "postal",
                     "phone_number", "city"):
            assert by_path[f"{part}.{name}"].kept_as == "not kept"
    assert "never raw" in by_path["email.address"].kept_as


def test_the_document_shows_the_tables_of_the_code() -> None:
    text = DOC.read_text()
    assert request_table() in text
    assert stored_table() in text
