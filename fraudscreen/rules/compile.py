"""Compiling one rule: the length limit, the CEL parse, the lint against the context schema,
a run on the default context, and the flat form that reads ``root__field`` variables.

The ``cel`` library is written in Rust and panics on some input (a syntax error beyond column
65535); the panic is a ``BaseException`` and is turned into a RuleError here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cel

from fraudscreen.errors import RuleError
from fraudscreen.rules.context import SCHEMA, empty_context

if TYPE_CHECKING:
    from fraudscreen.rules.engine import Rule

MAX_EXPRESSION_LENGTH = 64_000
"""Longest accepted rule expression, in characters: room for any hand-written rule, and below
the 65535 columns beyond which the ``cel`` parser panics on a syntax error. Long value lists
belong in the run-time allow/block/review lists, not in rules."""
UNRECOVERABLE = (KeyboardInterrupt, SystemExit, GeneratorExit)
"""BaseExceptions that are never a rule's failure (a cel panic is a BaseException too)."""
MAX_RULE_SECONDS = 0.05
"""The longest a rule may take on the default context when it loads, in CPU time (the default
rules take under 0.2 ms; wall time refused them in 10 of 24 workers starting on 2 cores). The
cel library holds the GIL while it runs: a rule of 8 million steps took 3 s
on every order, and stalled the whole worker, its reload thread and every request with it."""

# Named CEL functions the library implements natively (operators such as _>_ or @in
# are always allowed). The Python-implemented extras of cel.stdlib are not registered.
ALLOWED_FUNCTIONS = frozenset(
    {
        "size",
        "contains",
        "startsWith",
        "endsWith",
        "matches",
        "int",
        "uint",
        "double",
        "string",
        "bytes",
        "type",
        "dyn",
        "timestamp",
        "duration",
    }
)
_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "string", "bytes", "bool", "list", "map", "null_type", "type"}
)

# Lexical lint (the cel library has already parsed the expression): string literals,
# literal index access, comprehension binders and root.field paths.
_STRING_RE = re.compile(
    r"""(?:[rR][bB]?|[bB][rR]?)?"""
    r"""(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')"""
)
_INDEX_RE = re.compile(r"""(?<![\w.])([A-Za-z_]\w*)\s*\[\s*(["'])([A-Za-z_]\w*)\2\s*\]""")
_BINDER_RE = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_PATH_RE = re.compile(r"(?<![\w.])([A-Za-z_]\w*)(?:\s*\.\s*([A-Za-z_]\w*)(\s*\()?)?")



@dataclass(frozen=True)
class Compiled:
    """A rule compiled: its program, the context fields it reads and its flat form (if any)."""

    rule: Rule
    program: Any
    needs: tuple[tuple[str, tuple[str, ...] | None], ...]
    flat: Any = None
    """The same rule reading ``root__field`` variables instead of ``root.field`` (or None)."""
    flat_paths: tuple[tuple[str, str, str], ...] = ()
    """(root, field, variable) of each field the flat program reads."""


def _flat_name(root: str, field: str) -> str:
    return f"{root}__{field}"


def _flat_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """``context`` as ``root__field`` variables (what a flat program reads)."""
    return {
        _flat_name(root, field): value
        for root, sub in context.items()
        if isinstance(sub, Mapping)
        for field, value in sub.items()
    }


def _flatten(
    rule: Rule, program: Any, needs: Mapping[str, set[str] | None], expected: Any
) -> tuple[Any, tuple[tuple[str, str, str], ...]]:
    """Rewrite ``root.field`` to a top-level variable: converting one costs a third of a nested one.

    Only when every root the rule reads is read field by field and the rewritten program
    compiles, reads exactly the expected variables and gives ``expected`` on the default
    context; otherwise ``(None, ())`` and the rule runs on the nested context.
    """
    if not needs or any(fields is None for fields in needs.values()):
        return None, ()
    paths = tuple(
        (root, field, _flat_name(root, field))
        for root, fields in sorted(needs.items())
        for field in sorted(fields or ())
    )
    names = {name for _, _, name in paths}
    if names & set(program.variables()):
        return None, ()
    path_re = re.compile(
        r"(?<![\w.])(" + "|".join(map(re.escape, sorted(needs))) + r")\s*\.\s*([A-Za-z_]\w*)\b(?!\s*\()"
    )

    def rewrite(match: re.Match[str]) -> str:
        root, field = match.group(1), match.group(2)
        return _flat_name(root, field) if field in (needs[root] or ()) else match.group(0)

    pieces: list[str] = []
    done = 0
    for literal in _STRING_RE.finditer(rule.expression):
        pieces.append(path_re.sub(rewrite, rule.expression[done : literal.start()]))
        pieces.append(literal.group())
        done = literal.end()
    pieces.append(path_re.sub(rewrite, rule.expression[done:]))
    try:
        flat = cel.compile("".join(pieces))
        if set(flat.variables()) != (set(program.variables()) - needs.keys()) | names:
            return None, ()
        if flat.execute(_flat_context(empty_context())) != expected:
            return None, ()
    except UNRECOVERABLE:
        raise
    except BaseException:  # noqa: BLE001 - e.g. has(root.field), or a cel panic: keep the nested form
        return None, ()
    return flat, paths


def _needed_fields(rule: Rule, program: Any) -> dict[str, set[str] | None]:
    """The context fields ``rule`` reads, per root (None: the whole root); RuleError if unknown."""
    text = _INDEX_RE.sub(r"\1.\3", rule.expression)
    text = _STRING_RE.sub('""', text)
    binders = set(_BINDER_RE.findall(text))
    if shadowing := sorted(binders & SCHEMA.keys()):
        raise RuleError(
            f"rule {rule.id!r}: comprehension variable shadows context variable {shadowing[0]!r}"
        )
    unknown = sorted(set(program.variables()) - SCHEMA.keys() - binders - _TYPE_NAMES)
    if unknown:
        raise RuleError(f"rule {rule.id!r}: unknown variable {unknown[0]!r}")
    functions = sorted(
        f
        for f in program.functions()
        if not f.startswith(("_", "@", "!")) and f not in ALLOWED_FUNCTIONS
    )
    if functions:
        raise RuleError(f"rule {rule.id!r}: unsupported function {functions[0]!r}")
    needs: dict[str, set[str] | None] = {}
    for root, field, call in _PATH_RE.findall(text):
        if root not in SCHEMA:
            continue
        if not field or call:  # the whole root: `size(order)`, `profile.exists(k, ...)`
            needs[root] = None
            continue
        if field not in SCHEMA[root]:
            raise RuleError(f"rule {rule.id!r}: unknown variable {root}.{field}")
        current = needs.setdefault(root, set())
        if current is not None:
            current.add(field)
    return needs


_PARSE_ERROR = re.compile(r"<input>:(\d+):(\d+): ([^'\n:]*)(?::\s*([^'\n]*))?")
_QUOTED = re.compile(r"'([^'\n]*)'|\"([^\"\n]*)\"")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _without_literals(message: str) -> str:
    """The first line of a CEL library message with every quoted text that is not a plain name
    (``'matches'`` stays) as ``'…'``: the message goes to ``/readyz``, which needs no key, and
    a literal may be an e-mail address, an IP address or a card number."""
    line = message.splitlines()[0] if message else ""
    line = _QUOTED.sub(lambda m: m.group(0) if _NAME.fullmatch(m.group(1) or m.group(2) or "")
                       else "'…'", line)
    return line if len(line) <= 200 else line[:200] + "…"


def _where_and_why(exc: Exception) -> str:
    """``line 1, column 22: Syntax error: extraneous input`` from the parser's message, which
    quotes the expression and its tokens (none of them is kept); else the error's class."""
    found = _PARSE_ERROR.search(str(exc))
    if found is None:
        return f"the CEL parser refused it ({type(exc).__name__})"
    line, column, kind, why = found.groups()
    return f"line {line}, column {column}: {kind.strip()}" + (f": {why.strip()}" if why and why.strip() else "")


def compile_rule(rule: Rule) -> Compiled:
    """Compile, lint and try ``rule`` on the default context; RuleError naming it if it fails."""
    if len(rule.expression) > MAX_EXPRESSION_LENGTH:
        raise RuleError(
            f"rule {rule.id!r}: expression is longer than {MAX_EXPRESSION_LENGTH} characters "
            "(put long value lists in the allow/block/review lists)"
        )
    try:
        program = cel.compile(rule.expression)
    except UNRECOVERABLE:
        raise
    except Exception as exc:  # the library raises ValueError, keep any parse failure a RuleError
        raise RuleError(f"rule {rule.id!r}: expression does not compile: "
                        f"{_where_and_why(exc)}") from exc
    except BaseException as exc:  # a panic of the cel parser (pyo3 PanicException)
        raise RuleError(
            f"rule {rule.id!r}: expression does not compile: the CEL parser failed "
            f"({type(exc).__name__})"
        ) from exc
    needs = _needed_fields(rule, program)
    started = time.thread_time()  # CPU time: a busy machine (workers starting at once) is no slow rule
    try:
        result = program.execute(empty_context())
    except UNRECOVERABLE:
        raise
    except BaseException as exc:  # a cel panic included
        raise RuleError(
            f"rule {rule.id!r}: fails on the default context: {type(exc).__name__}: "
            f"{_without_literals(str(exc))}"
        ) from exc
    if (took := time.thread_time() - started) > MAX_RULE_SECONDS:
        raise RuleError(f"rule {rule.id!r}: takes {took:.2f} s on the default context, more than "
                        f"{MAX_RULE_SECONDS * 1000:g} ms; every order would wait for it (nested "
                        "loops over long lists? put the values in the allow/block/review lists)")
    if not isinstance(result, bool):
        raise RuleError(f"rule {rule.id!r}: must return a bool, returned {type(result).__name__}")
    frozen = tuple(
        (root, None if f is None else tuple(sorted(f))) for root, f in sorted(needs.items())
    )
    flat, flat_paths = _flatten(rule, program, needs, result)
    return Compiled(rule, program, frozen, flat, flat_paths)


def prune(
    needs: Iterable[tuple[str, tuple[str, ...] | None]], context: Mapping[str, Any]
) -> dict[str, Any]:
    """The part of ``context`` the rules read (converting values to CEL costs ~1.5 µs each)."""
    out: dict[str, Any] = {}
    for root, fields in needs:
        sub = context.get(root)
        if sub is None:
            continue
        out[root] = sub if fields is None else {f: sub[f] for f in fields if f in sub}
    return out
