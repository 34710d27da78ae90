"""Files replaced whole: written beside their final name, then renamed over it.

A reader (the service reloading a model, a script reading a report) sees the previous file or
the new one, never half of one; an error or Ctrl-C while writing leaves the previous file, if
any, as it was, and no partial file behind.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

__all__ = ["replace_file", "replace_text"]

T = TypeVar("T")


def replace_file(path: Path, write: Callable[[Path], T]) -> T:
    """``write`` a hidden file beside ``path`` (with the same last suffix, which may choose the
    compression), then rename it to ``path``; what ``write`` returned. The folder is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial{path.suffix}")
    try:
        result = write(partial)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return result


def replace_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8), whole."""
    replace_file(path, lambda partial: partial.write_text(text, encoding="utf-8"))
