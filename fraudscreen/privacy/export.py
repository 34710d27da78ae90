"""Export everything held on an account as JSON (privacy policy P3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fraudscreen.errors import NotFoundError
from fraudscreen.schema import refuse_card_numbers
from fraudscreen.store import Store

EXPORT_FORMAT = "fraudscreen-account-export-1"
NOT_HELD = (
    "the email address itself: only its keyed hash (HMAC) and its domain",
    "names, street addresses, postal codes and phone numbers: used for screening, never stored",
    "full card numbers: refused; a card is known by BIN, last digits and token only",
)
"""What the export states the service does not hold at all."""


def export_account(store: Store, account_id: str, *, actor: str) -> dict[str, Any]:
    """Every row held on the account (aggregates, orders with their stored answers, links,
    outcomes, list entries, audit entries); the export itself is audited.

    NotFoundError when nothing is held on the account.
    """
    refuse_card_numbers({"account_id": account_id})  # no account has one; the audit keeps ids
    with store.audited(actor, "account.export", account_id, account_id=account_id):
        data = store.export_account(account_id)
        if data is None:
            raise NotFoundError("No data is held on this account.")
    return {
        "format": EXPORT_FORMAT,
        "account_id": account_id,
        "exported_at": datetime.now(UTC).isoformat(),
        "not_held": list(NOT_HELD),
        **data,
    }
