"""Retention (privacy policy P7): ``fraudscreen purge``, from cron or on a schedule in the service.

:func:`purge` applies the configured periods to the database and the log files and is
idempotent, so running it twice, or from cron and the service at once, is safe.
:class:`PurgeScheduler` runs it every ``purge_interval_hours`` in each worker; a compare-and-set
on a database row lets only one worker per interval do the work.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fraudscreen.config import MAX_RETENTION_DAYS, Settings
from fraudscreen.errors import ConfigError, FraudscreenError, LogFilesError
from fraudscreen.log_rewrite import finish_pending_scrubs
from fraudscreen.logs import delete_old_log_files
from fraudscreen.store import Store

log = logging.getLogger(__name__)

SCHEDULER_CHECK_SECONDS = 300.0
"""How often a worker's scheduler asks the database whether a purge is due."""


@dataclass(frozen=True)
class PurgeReport:
    """The cut-offs one purge applied and what it changed."""

    personal_before: datetime
    orders_before: datetime
    audit_before: datetime
    logs_before: datetime
    counts: dict[str, int]
    """orders_stripped, entity_links, orders_deleted, orders_anonymised, accounts_deleted,
    audit_entries (deleted), audit_list_values (list-change audit entries past the personal
    period whose value was replaced because it is no longer on its list), log_files."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON printed by ``fraudscreen purge``."""
        return {
            "cutoffs": {
                "personal": self.personal_before.isoformat(),
                "orders": self.orders_before.isoformat(),
                "audit": self.audit_before.isoformat(),
                "logs": self.logs_before.date().isoformat(),
            },
            "counts": dict(self.counts),
        }


def _days(settings: Settings, name: str) -> timedelta:
    value = getattr(settings, name)
    if not 0 < value <= MAX_RETENTION_DAYS:
        raise ConfigError(f"setting {name!r} must be a whole number of days from 1 to {MAX_RETENTION_DAYS:,}")
    return timedelta(days=value)


def purge(store: Store, settings: Settings, *, now: datetime | None = None) -> PurgeReport:
    """Apply every retention period as of ``now`` (default: the current time)."""
    now = now or datetime.now(UTC)
    personal_before = now - _days(settings, "retention_personal_days")
    orders_before = now - _days(settings, "retention_orders_days")
    audit_before = now - _days(settings, "retention_audit_days")
    logs_before = now - _days(settings, "retention_logs_days")
    counts: dict[str, int] = {}
    personal = store.purge_personal(personal_before)
    counts["orders_stripped"] = personal["orders_stripped"]
    older = store.purge_orders(orders_before)
    counts["entity_links"] = personal["entity_links"] + older.pop("entity_links")
    counts.update(older)
    counts["audit_entries"] = store.purge_audit(audit_before)
    counts["audit_list_values"] = store.purge_list_audit_values(personal_before)
    store.scrub()
    try:
        finish_pending_scrubs(settings.resolved_log_dir)  # of an erasure that stopped half-way
        counts["log_files"] = delete_old_log_files(settings.resolved_log_dir, logs_before.date())
    except OSError as exc:
        raise LogFilesError(
            f"the database is purged, but the old log files in {settings.resolved_log_dir} "
            f"could not be deleted ({exc.strerror or type(exc).__name__}); run the purge again "
            "once that is fixed") from exc
    log.info("retention purge done", extra={"counts": counts})
    return PurgeReport(personal_before, orders_before, audit_before, logs_before, counts)


class PurgeScheduler:
    """A daemon thread that runs :func:`purge` when the shared database row says it is due."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.every_seconds = settings.purge_interval_hours * 3600.0
        self.runs = 0
        """Purges this scheduler ran (for tests)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fraudscreen-purge", daemon=True)

    def start(self) -> PurgeScheduler:
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def run_once(self, now: datetime | None = None) -> bool:
        """Purge if no worker did within the interval; True when this call purged."""
        now = now or datetime.now(UTC)
        if not self.store.claim_purge(now, self.every_seconds):
            return False
        purge(self.store, self.settings, now=now)
        self.runs += 1
        return True

    def _loop(self) -> None:
        check = min(SCHEDULER_CHECK_SECONDS, self.every_seconds)
        # Spread the workers' first checks so they do not all start at once.
        while not self._stop.wait(check * random.uniform(0.5, 1.0)):
            try:
                self.run_once()
            except FraudscreenError as exc:
                log.warning("scheduled purge failed: %s", exc.message)
            except Exception:  # the thread must survive to try again
                log.exception("scheduled purge failed")

    def stop(self) -> None:
        """Ask the thread to stop and wait briefly for it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


def start_purge_scheduler(store: Store, settings: Settings) -> PurgeScheduler | None:
    """Start a scheduler when ``purge_interval_hours`` is positive; None otherwise."""
    if settings.purge_interval_hours <= 0:
        return None
    return PurgeScheduler(store, settings).start()
