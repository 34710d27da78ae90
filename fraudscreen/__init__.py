"""fraudscreen: order fraud screening with GeoIP enrichment, account profiles, a model and rules."""

from __future__ import annotations

__version__ = "0.1.0"
