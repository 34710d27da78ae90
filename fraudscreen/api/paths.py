"""Ids in URL paths: every id the schema accepts is addressable exactly, never redirected.

An account or order id may hold slashes, lead with one (``/lead`` is ``/v1/accounts/%2Flead``)
or hold a line break. werkzeug's defaults would merge ``//`` and answer ``308`` to another id's
URL (a client following redirects then erased or exported account ``lead``), and its ``path``
converter matches neither a leading slash nor a line break (a ``404`` instead of the ``400``
that names the control character).
"""

from __future__ import annotations

from werkzeug.routing import Map, PathConverter

_ANY = r"[\s\S]+?"  # one character or more, line breaks included (``.`` skips them)


class IdConverter(PathConverter):
    """Any non-empty id: slashes anywhere, a leading one included."""

    regex = _ANY
    part_isolating = False  # werkzeug infers True from a regex without "/" (one path segment)


class OrderIdConverter(IdConverter):
    """An order id, but not ending in ``/outcome``: ``GET /v1/orders/X/outcome`` is a method the
    outcome route does not serve (405 naming POST), not a look-up of an order called
    ``X/outcome`` (such an order is found by its ``id``)."""

    regex = _ANY + r"(?<!/outcome)"
    part_isolating = False


class ErasableAccountIdConverter(IdConverter):
    """An account id to erase, but not ending in ``/profile`` or ``/export``: ``DELETE
    /v1/accounts/X/profile`` is a method the profile route does not serve (405 naming GET),
    never the erasure of an account called ``X/profile`` (erase that one with ``fraudscreen
    erase``)."""

    regex = _ANY + r"(?<!/profile)(?<!/export)"
    part_isolating = False


def configure_url_map(url_map: Map) -> None:
    """No slash merging or slash redirects, and the converters above; before any route is added."""
    url_map.merge_slashes = False
    url_map.strict_slashes = False
    url_map.converters.update(
        id=IdConverter, order_id=OrderIdConverter, erasable_account_id=ErasableAccountIdConverter
    )
