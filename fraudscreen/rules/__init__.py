"""Rules: CEL expressions over a fixed context schema, plus run-time allow/block/review lists."""

from __future__ import annotations

from fraudscreen.rules.context import (
    LIST_KINDS,
    SCHEMA,
    build_context,
    empty_context,
    validate_context,
)
from fraudscreen.rules.engine import (
    ACTION_DECISIONS,
    ACTIONS,
    Rule,
    RuleEvaluation,
    RuleHit,
    RuleSet,
    strongest_action,
)
from fraudscreen.rules.lists import (
    LIST_NAMES,
    ListEntry,
    ListMatcher,
    make_list_entry,
    normalise_list_value,
)

__all__ = [
    "ACTIONS",
    "ACTION_DECISIONS",
    "LIST_KINDS",
    "LIST_NAMES",
    "SCHEMA",
    "ListEntry",
    "ListMatcher",
    "Rule",
    "RuleEvaluation",
    "RuleHit",
    "RuleSet",
    "build_context",
    "empty_context",
    "make_list_entry",
    "normalise_list_value",
    "strongest_action",
    "validate_context",
]
