"""The privacy policy in code (DESIGN P1–P7): the minimum-data inventory, erasure, export, retention.

Nothing here imports Flask or SQLAlchemy: the API, the CLI and cron call these functions with a
:class:`~fraudscreen.store.Store` and the :class:`~fraudscreen.config.Settings`.
"""

from __future__ import annotations

from fraudscreen.privacy.erasure import ErasureReport, erase_account
from fraudscreen.privacy.export import export_account
from fraudscreen.privacy.retention import PurgeReport, PurgeScheduler, purge, start_purge_scheduler

__all__ = [
    "ErasureReport",
    "PurgeReport",
    "PurgeScheduler",
    "erase_account",
    "export_account",
    "purge",
    "start_purge_scheduler",
]
