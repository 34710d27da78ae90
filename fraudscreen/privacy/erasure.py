"""Erase an account (privacy policy P3): database rows, audit details and log lines.

``DELETE /v1/accounts/{id}`` and ``fraudscreen erase ACCOUNT`` both call :func:`erase_account`.
It is idempotent: a second call finds nothing and reports zeros.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields, replace
from typing import Any

from fraudscreen.config import ENV_PREFIX, Settings
from fraudscreen.errors import LogFilesError
from fraudscreen.log_rewrite import PendingScrub, finish_pending_scrubs, rewrite_logs
from fraudscreen.schema import refuse_card_numbers
from fraudscreen.store import Store
from fraudscreen.store.erasure import AccountIdentifiers

log = logging.getLogger(__name__)

KEEP_SETTING = f"{ENV_PREFIX}ERASURE_KEEP_FRAUD_HASHES"


@dataclass(frozen=True)
class ErasureReport:
    """What one erasure removed and what it kept, and why."""

    erasure_id: str
    """The id under which the erasure is audited (the audit entry never names the account)."""
    account_id: str
    removed: dict[str, int]
    """Per kind: accounts, orders, entity_links, outcomes, list_entries, list_notes_cleared,
    audit_entries_anonymised, log_lines, log_files."""
    kept: list[dict[str, str]] = field(default_factory=list)
    """``{"what", "why"}`` for everything kept on purpose."""

    @property
    def held(self) -> bool:
        """Whether anything was held on the account (False for a mistyped id, or a repeat)."""
        return any(self.removed.values())

    def to_dict(self) -> dict[str, Any]:
        """The JSON answer of the erase endpoint and command."""
        return {
            "erasure_id": self.erasure_id,
            "account_id": self.account_id,
            "held": self.held,
            "removed": dict(self.removed),
            "kept": list(self.kept),
        }


def _union(a: AccountIdentifiers, b: AccountIdentifiers) -> AccountIdentifiers:
    """The identifiers of ``a`` and of ``b`` (the same account), without duplicates."""
    merged: dict[str, Any] = {
        f.name: tuple(dict.fromkeys((*getattr(a, f.name), *getattr(b, f.name))))
        for f in fields(a) if f.name != "account_id"
    }
    return replace(a, **merged)


def erase_account(store: Store, settings: Settings, account_id: str, *, actor: str) -> ErasureReport:
    """Remove the account's personal data from every table and from the service's log files.

    Log lines naming the account, its orders or its own identifiers are dropped before and
    after the database erasure, so that a crash in between leaves nothing a retry cannot find.
    The pass after looks for every identifier, the ones known before as well as those of
    orders that arrived meanwhile: a request that committed before the erasure took its lock
    writes its log line when it answers (``POST /v1/orders/{id}/outcome`` names an order known
    before), which can be after the first pass. An IP, device id or email hash that other
    accounts' orders also carry is theirs too: as the database keeps it for them (and the
    list entries and audit entries naming it), a line naming only such a value stays; each
    pass asks which values are shared at that moment. With ``erasure_keep_fraud_hashes`` the
    email hashes of confirmed-fraud orders stay on the block list, and the report says so.
    """
    refuse_card_numbers({"account_id": account_id})  # no account has one; the audit keeps ids
    log_dir = settings.resolved_log_dir
    before = store.own_identifiers(store.account_identifiers(account_id))
    try:
        finish_pending_scrubs(log_dir)  # of an erasure that stopped after its database part
        files, lines = rewrite_logs(log_dir, before.all())
    except OSError as exc:  # nothing is erased yet: the whole erasure can be asked for again
        raise LogFilesError(f"cannot clean the log files in {log_dir} "
                            f"({exc.strerror or type(exc).__name__}); nothing was erased") from exc
    pending = PendingScrub(log_dir)
    try:
        result = store.erase_account(
            account_id, keep_fraud_email_hashes=settings.erasure_keep_fraud_hashes, actor=actor,
            before_commit=lambda own: pending.record((*before.all(), *own.all())),
        )
    except BaseException:
        pending.done()  # rolled back: nothing of it to clean
        raise
    try:
        more_files, more_lines = rewrite_logs(
            log_dir, store.own_identifiers(_union(before, result.identifiers)).all())
        pending.done()
        unchecked = None
    except OSError as exc:  # the database is erased: the record stays for the next pass
        pending.release()
        more_files, more_lines, unchecked = frozenset(), 0, exc.strerror or type(exc).__name__
    removed = {**result.removed, "log_lines": lines + more_lines,
               "log_files": len(files | more_files)}  # a file both passes rewrote counts once
    kept: list[dict[str, str]] = []
    if result.kept_fraud_email_hashes:
        kept.append({
            "what": f"{result.kept_fraud_email_hashes} email hash(es) of confirmed-fraud orders "
                    "on the block list",
            "why": f"fraud prevention: {KEEP_SETTING} is on",
        })
    if result.kept_shared_list_entries:
        kept.append({
            "what": f"{result.kept_shared_list_entries} list entr"
                    f"{'y' if result.kept_shared_list_entries == 1 else 'ies'} for IP addresses, "
                    "device ids or email hashes that other accounts' orders also carry, with "
                    "their audit entries",
            "why": "those values are the other accounts' data too; one account's erasure does "
                   "not lift a block that protects against them",
        })
    if result.removed.get("audit_entries_anonymised"):
        kept.append({
            "what": "audit entries of who read or changed this data and when, without "
                    "target or details",
            "why": "accountability for staff access (policy P4); they hold no personal data",
        })
    if unchecked:
        kept.append({
            "what": "log lines written while this erasure ran (its database part is done): "
                    f"the second pass over {log_dir} failed ({unchecked})",
            "why": "the log files could not be rewritten; the next erasure or purge does that "
                   "pass again, from a record it left in the log directory",
        })
    kept.append({
        "what": f"the record of this erasure ({result.erasure_id}): time, actor and counts",
        "why": "proof that the request was honoured; it does not name the account",
    })
    log.info("account erased", extra={"erasure_id": result.erasure_id, "removed": removed})
    return ErasureReport(result.erasure_id, account_id, removed, kept)
