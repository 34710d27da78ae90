"""Rules: CEL expressions over the rule context, compiled once, evaluated per order.

A rules file is TOML::

    version = "2026-11-24.1"

    [[rule]]
    id = "blocklisted"
    code = "BLOCKLISTED"
    action = "reject"            # allow | reject | review | signal
    expression = "lists.block"   # CEL, must return a bool
    message = "Something about this order is on the block list."

Expressions are parsed and run by the ``common-expression-language`` package (import
name ``cel``). At load every rule is refused if longer than
:data:`~fraudscreen.rules.compile.MAX_EXPRESSION_LENGTH`,
then compiled, checked against the context schema (variables, fields and functions) and
run once on the default context. That catches typos and type errors the default context
reaches, not every run-time failure: a rule can still fail on some orders (a division
by zero, a comparison of a string with a number on a branch the default context does not
take, an overflow, a ``matches`` pattern built from order data). Such a rule gives no hit
and is reported in :attr:`RuleEvaluation.errors` (and :attr:`RuleEvaluation.deciding_errors`
for reject and review rules, which screening then treats like a missing part); it never
raises. The ``cel`` library is written in Rust and panics on some input (a syntax error
beyond column 65535); the panic is a ``BaseException``, and is turned into a RuleError at
load and a rule error at run time like any other failure.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import cel

from fraudscreen.errors import RuleError
from fraudscreen.files import require_regular_file
from fraudscreen.result import answer_text_problem
from fraudscreen.rules.compile import (
    UNRECOVERABLE,
    Compiled,
    compile_rule,
    prune,
)

logger = logging.getLogger(__name__)

Action = Literal["allow", "reject", "review", "signal"]
Decision = Literal["accept", "reject", "review"]

ACTIONS: tuple[str, ...] = ("allow", "reject", "review", "signal")
"""Valid rule actions, strongest first; ``signal`` only adds a reason."""
ACTION_DECISIONS: dict[str, Decision] = {"allow": "accept", "reject": "reject", "review": "review"}
"""The decision each deciding action leads to."""
_RULE_KEYS = frozenset({"id", "code", "action", "expression", "message", "enabled"})
RULE_ID = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
"""What a rule id may be: lower case letters, digits, "_", "." and "-", 1 to 64 of them."""
_CODE_RE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
_error_listeners: list[Callable[[str], None]] = []
_listening: ContextVar[bool] = ContextVar("fraudscreen_rule_error_listening", default=True)
_logging: ContextVar[bool] = ContextVar("fraudscreen_rule_error_logging", default=True)


def on_rule_error(listener: Callable[[str], None]) -> None:
    """Call ``listener(rule_id)`` on every run-time rule failure of any rule set (metrics)."""
    _error_listeners.append(listener)


@contextmanager
def rule_errors_not_logged() -> Iterator[None]:
    """Evaluate without logging each run-time failure, in this thread or task: a replay of a
    million orders counts its failures (:attr:`RuleEvaluation.errors`) and reports them once."""
    token = _logging.set(False)
    try:
        yield
    finally:
        _logging.reset(token)


@contextmanager
def rule_errors_not_counted() -> Iterator[None]:
    """Evaluate without telling the :func:`on_rule_error` listeners, in this thread or task:
    a worker's warm-up order is not traffic. Failures are still logged and in the answer."""
    token = _listening.set(False)
    try:
        yield
    finally:
        _listening.reset(token)


@dataclass(frozen=True)
class Rule:
    """One rule of a rules file."""

    id: str
    """Stable identifier, lower case (``"disposable_email"``)."""
    code: str
    """Stable reason code shown in answers, UPPER_SNAKE (``"DISPOSABLE_EMAIL"``)."""
    action: Action
    """``allow`` (accept), ``reject``, ``review``, or ``signal`` (a reason that never decides)."""
    expression: str
    """CEL expression over the rule context; must return a bool."""
    message: str
    """Human text shown to reviewers and in reasons; never personal data."""
    enabled: bool = True
    """Disabled rules are compiled and checked but not run."""


@dataclass(frozen=True)
class RuleHit:
    """A rule whose expression returned true for an order."""

    rule_id: str
    code: str
    action: Action
    message: str


@dataclass(frozen=True)
class RuleEvaluation:
    """The result of running a rule set on one context."""

    hits: tuple[RuleHit, ...]
    """Rules that matched, in file order."""
    errors: tuple[str, ...]
    """Ids of rules that failed at run time (no hit was produced for them)."""
    deciding_errors: tuple[str, ...] = ()
    """The reject and review rules among :attr:`errors`: they might have stopped the order,
    so it must not be accepted silently. A failed allow rule simply did not allow."""
    failed: tuple[RuleHit, ...] = ()
    """The rules of :attr:`errors`, each as a hit of it would read (its code, action, message)."""

    @property
    def action(self) -> Action | None:
        """The strongest deciding action among the hits, or None."""
        return strongest_action(self.hits)

    @property
    def decision(self) -> Decision | None:
        """``accept``/``reject``/``review`` forced by the rules, or None to let the model decide."""
        action = self.action
        return ACTION_DECISIONS[action] if action else None


def strongest_action(hits: Iterable[RuleHit]) -> Action | None:
    """``allow`` beats ``reject`` beats ``review``; ``signal`` never decides."""
    actions = {hit.action for hit in hits}
    for action in ("allow", "reject", "review"):
        if action in actions:
            return action
    return None


def _check_rule_table(index: int, table: Any) -> Rule:
    where = f"rule #{index + 1}"
    if not isinstance(table, dict):
        raise RuleError(f"{where}: must be a table")
    rule_id = table.get("id")
    if not isinstance(rule_id, str) or not RULE_ID.fullmatch(rule_id):
        raise RuleError(f"{where}: 'id' must be lower case letters, digits, '_', '.', '-' (1-64)")
    where = f"rule {rule_id!r}"
    if extra := sorted(set(table) - _RULE_KEYS):
        raise RuleError(f"{where}: unknown key {extra[0]!r}")
    for key in ("code", "action", "expression", "message"):
        if not isinstance(table.get(key), str) or not table[key].strip():
            raise RuleError(f"{where}: {key!r} must be a non-empty string")
    if problem := answer_text_problem(table["message"], 300):  # the code is UPPER_SNAKE
        raise RuleError(f"{where}: 'message' {problem}")
    if not isinstance(table.get("enabled", True), bool):
        raise RuleError(f"{where}: 'enabled' must be true or false")
    return Rule(
        id=rule_id,
        code=table["code"],
        action=table["action"],
        expression=table["expression"],
        message=table["message"].strip(),
        enabled=table.get("enabled", True),
    )


Needs = tuple[tuple[str, tuple[str, ...] | None], ...]
"""Context fields read, per root: ``(root, fields)``, ``fields`` None when the root is read whole."""


def _merged_needs(compiled: Iterable[Compiled]) -> Needs:
    """The fields all these rules read, per root (sorted); a root any rule reads whole is whole."""
    merged: dict[str, set[str] | None] = {}
    for c in compiled:
        for root, fields in c.needs:
            current = merged.get(root, set())
            if fields is None or current is None:
                merged[root] = None
            else:
                merged[root] = current | set(fields)
    return tuple((r, None if f is None else tuple(sorted(f))) for r, f in sorted(merged.items()))


class RuleSet:
    """A versioned, compiled set of rules; immutable but for :attr:`errors`; thread-safe."""

    def __init__(self, version: str, rules: Iterable[Rule], sha256: str) -> None:
        """Prefer :meth:`load` or :meth:`from_rules`; raises RuleError on any invalid rule."""
        if not isinstance(version, str) or not version.strip():
            raise RuleError("rules file: 'version' must be a non-empty string")
        if problem := answer_text_problem(version, 64):
            raise RuleError(f"rules file: 'version' {problem}")
        self.version: str = version
        """The rules file's ``version``; recorded with every decision."""
        self.rules: tuple[Rule, ...] = tuple(rules)
        """All rules, enabled or not, in file order."""
        self.sha256: str = sha256
        """SHA-256 of the rules file content (of a canonical JSON form for :meth:`from_rules`)."""
        self.errors: Counter[str] = Counter()
        """Run-time failures per rule id since load (for metrics)."""
        self._lock = threading.Lock()
        seen_ids: set[str] = set()
        seen_codes: set[str] = set()
        for rule in self.rules:
            if rule.id in seen_ids:
                raise RuleError(f"rule {rule.id!r}: duplicate id")
            if rule.code in seen_codes:
                raise RuleError(f"rule {rule.id!r}: duplicate code {rule.code!r}")
            if not _CODE_RE.fullmatch(rule.code):
                raise RuleError(f"rule {rule.id!r}: code must be UPPER_SNAKE")
            if rule.action not in ACTIONS:
                raise RuleError(f"rule {rule.id!r}: action must be one of {', '.join(ACTIONS)}")
            if not rule.message.strip():
                raise RuleError(f"rule {rule.id!r}: message must not be empty")
            seen_ids.add(rule.id)
            seen_codes.add(rule.code)
        compiled = [compile_rule(rule) for rule in self.rules]
        self._compiled: tuple[Compiled, ...] = tuple(c for c in compiled if c.rule.enabled)
        self._needs = _merged_needs(self._compiled)
        # Fast path: flat rules read root__field variables, the others their nested roots.
        flat_paths = sorted(
            {path for c in self._compiled if c.flat is not None for path in c.flat_paths}
        )
        self._flat_roots: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = tuple(
            (root, tuple((f, n) for r, f, n in flat_paths if r == root))
            for root in sorted({r for r, _, _ in flat_paths})
        )
        self._nested_needs = _merged_needs(c for c in self._compiled if c.flat is None)
        self._programs = tuple(c.program if c.flat is None else c.flat for c in self._compiled)

    @classmethod
    def load(cls, path: str | Path) -> RuleSet:
        """Read and compile a TOML rules file; RuleError (naming the rule) if anything is wrong."""
        path = Path(path)
        try:
            require_regular_file(path)  # a FIFO would block the service's start
            raw = path.read_bytes()
        except OSError as exc:
            raise RuleError(f"rules file {path.name!r} cannot be read: {exc.strerror}") from exc
        return cls.loads(raw, name=path.name)

    @classmethod
    def loads(cls, raw: bytes | str, *, name: str = "<rules>") -> RuleSet:
        """Like :meth:`load`, from the file content."""
        data = raw.encode("utf-8") if isinstance(raw, str) else raw
        try:
            doc = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise RuleError(f"rules file {name!r} is not valid TOML: {exc}") from exc
        if extra := sorted(set(doc) - {"version", "rule"}):
            raise RuleError(f"rules file {name!r}: unknown top-level key {extra[0]!r}")
        tables = doc.get("rule", [])
        if not isinstance(tables, list):
            raise RuleError(f"rules file {name!r}: 'rule' must be an array of tables ([[rule]])")
        rules = [_check_rule_table(i, t) for i, t in enumerate(tables)]
        return cls(doc.get("version", ""), rules, hashlib.sha256(data).hexdigest())

    @classmethod
    def load_default(cls) -> RuleSet:
        """The rule set shipped with the package (``fraudscreen/rules/default.toml``)."""
        raw = resources.files("fraudscreen.rules").joinpath("default.toml").read_bytes()
        return cls.loads(raw, name="default.toml")

    @classmethod
    def from_rules(cls, version: str, rules: Iterable[Rule]) -> RuleSet:
        """Build a rule set from Rule objects (tests, admin previews)."""
        rules = tuple(rules)
        canonical = json.dumps(
            {"version": version, "rules": [asdict(r) for r in rules]}, sort_keys=True
        )
        return cls(version, rules, hashlib.sha256(canonical.encode("utf-8")).hexdigest())

    @property
    def fields(self) -> frozenset[str]:
        """The ``root.field`` names the enabled rules read (``root`` alone when read whole)."""
        names: set[str] = set()
        for root, fields in self._needs:
            names.update([root] if fields is None else (f"{root}.{f}" for f in fields))
        return frozenset(names)

    def evaluate(self, context: Mapping[str, Any]) -> RuleEvaluation:
        """Run every enabled rule on ``context`` ; a failing rule never raises."""
        fast = self._fast_context(context)
        if fast is not None:
            shared: Any = fast
            programs = self._programs
        else:  # a field missing or unconvertible: the nested form gives the exact errors
            programs = tuple(c.program for c in self._compiled)
            try:
                shared = cel.Context(prune(self._needs, context))
            except UNRECOVERABLE:
                raise
            except BaseException:  # noqa: BLE001 - unconvertible value: only its readers fail
                shared = None
        hits: list[RuleHit] = []
        errors: list[Rule] = []
        for c, program in zip(self._compiled, programs, strict=True):
            rule = c.rule
            try:
                result = program.execute(
                    shared if shared is not None else prune(c.needs, context)
                )
            except UNRECOVERABLE:
                raise
            except BaseException as exc:  # noqa: BLE001 - TypeError, OverflowError, a cel panic...
                self._record_error(rule.id, type(exc).__name__)
                errors.append(rule)
                continue
            if result is True:
                hits.append(RuleHit(rule.id, rule.code, rule.action, rule.message))
            elif result is not False:
                self._record_error(rule.id, f"returned {type(result).__name__}")
                errors.append(rule)
        return RuleEvaluation(
            tuple(hits),
            tuple(r.id for r in errors),
            tuple(r.id for r in errors if r.action in ("reject", "review")),
            tuple(RuleHit(r.id, r.code, r.action, r.message) for r in errors),
        )

    def _fast_context(self, context: Mapping[str, Any]) -> Any:
        """The CEL context of the flat programs, or None if a field is missing or unconvertible."""
        variables: dict[str, Any] = {}
        try:
            for root, fields in self._flat_roots:
                sub = context[root]
                if type(sub) is not dict and not isinstance(sub, Mapping):
                    return None
                for field, name in fields:
                    variables[name] = sub[field]
        except KeyError:
            return None
        if self._nested_needs:
            variables.update(prune(self._nested_needs, context))
        try:
            return cel.Context(variables)
        except UNRECOVERABLE:
            raise
        except BaseException:  # noqa: BLE001 - unconvertible value
            return None

    def _record_error(self, rule_id: str, what: str) -> None:
        # Only the rule id and the error class are logged: messages may quote context values.
        if _logging.get():
            logger.warning("rule %s failed at run time: %s", rule_id, what)
        with self._lock:
            self.errors[rule_id] += 1
        if not _listening.get():
            return
        for listener in _error_listeners:
            try:
                listener(rule_id)
            except Exception:  # counting must never fail screening
                logger.exception("rule error listener failed")

    def __repr__(self) -> str:
        short = self.sha256[:12]
        return f"RuleSet(version={self.version!r}, rules={len(self.rules)}, sha256={short}…)"
