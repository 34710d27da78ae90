"""Training tools: the order simulator, the replay into features, model fitting and back-tests."""

from __future__ import annotations
