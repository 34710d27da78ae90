"""JSON Lines files of orders, plain or gzip-compressed (by the ``.gz`` suffix)."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any


def open_text(path: Path, mode: str = "r") -> IO[str]:
    """Open ``path`` for text; ``.gz`` files are (de)compressed, written with a fixed mtime."""
    path = Path(path)
    if path.suffix != ".gz":
        return path.open(mode, encoding="utf-8", newline="\n" if "w" in mode else None)
    if "w" in mode:
        raw = gzip.GzipFile(filename="", fileobj=path.open("wb"), mode="wb", mtime=0)
        return io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
    return io.TextIOWrapper(gzip.GzipFile(path, "rb"), encoding="utf-8")


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The objects of a JSON Lines file, one per non-empty line."""
    with open_text(path) as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def write_jsonl(rows: Iterable[dict[str, Any]], path: Path) -> int:
    """Write rows as compact JSON Lines (key order kept, same bytes for the same rows)."""
    count = 0
    with open_text(path, "w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
            fh.write("\n")
            count += 1
    return count
