"""The layering of DESIGN §8: which modules may import Flask, SQL and GeoIP libraries."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fraudscreen"

# library -> the only places (package-relative path prefixes) allowed to import it directly
ALLOWED = {
    "flask": ("api/",),
    "werkzeug": ("api/",),
    "sqlalchemy": ("store/",),
    "alembic": ("store/",),
    "geoip2": ("enrich/geo.py",),
    "maxminddb": ("enrich/geo.py", "training/sim"),
}
CORE = ("schema", "signals", "features", "decision", "screening", "model", "profile", "result", "rules")


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("library", sorted(ALLOWED))
def test_library_is_imported_only_where_allowed(library: str) -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if library in _imported_roots(path) and not relative.startswith(ALLOWED[library]):
            offenders.append(relative)
    assert offenders == [], f"{library} imported outside {ALLOWED[library]}: {offenders}"


def test_scoring_core_loads_without_flask_or_sql() -> None:
    modules = ", ".join(f"fraudscreen.{m}" for m in CORE)
    code = (
        f"import sys, {modules}\n"
        "bad = sorted(m for m in ('flask', 'sqlalchemy', 'alembic') if m in sys.modules)\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the scoring core pulled in: {out.stdout.strip()}"


@pytest.mark.parametrize("first", ["fraudscreen.pointers", "fraudscreen.jsontext",
                                   "fraudscreen.training.jsonl", "fraudscreen.enrich.card"])
def test_each_module_imports_first_and_works(first: str) -> None:
    """``fraudscreen.pointers`` imported before ``fraudscreen.enrich`` pulled the package in
    half-made (ImportError on the first repeated key a JSON Lines file held)."""
    code = (f"import {first}\n"
            "from fraudscreen.jsontext import refused_pointers\n"
            "print(refused_pointers(b'{\"jane@example.org\": 1, \"jane@example.org\": 2}'))")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "'/[email]'" in out.stdout
