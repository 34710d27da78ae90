"""Files replaced whole: written beside their final name, then renamed over it.

A reader (the service reloading a model, a script reading a report) sees the previous file or
the new one, never half of one; an error or Ctrl-C while writing leaves the previous file, if
any, as it was, and no partial file behind.
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TypeVar

__all__ = ["gzipped", "open_text", "replace_file", "replace_files", "replace_text",
           "require_regular_file", "text_writer"]

T = TypeVar("T")


def replace_file(path: Path, write: Callable[[Path], T]) -> T:
    """``write`` a hidden file beside ``path`` (with the same last suffix, which may choose the
    compression), then rename it to ``path``; what ``write`` returned. The folder is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial_name(path)
    try:
        result = write(partial)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return result


def replace_files(writes: Mapping[Path, Callable[[Path], object]]) -> None:
    """Replace several files together: every ``write`` to its hidden file first, then the
    renames; a rename that fails puts back the files already renamed. A failed or interrupted
    run leaves every file as it was (a model and its card never disagree), and no partial
    file behind."""
    partials: dict[Path, Path] = {}
    previous: dict[Path, Path] = {}  # a target's earlier file, kept under a second name
    renamed: list[Path] = []
    try:
        for path, write in writes.items():
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            partials[path] = partial = _partial_name(path)
            write(partial)
        for path in partials:
            if path.is_dir():  # os.replace would fail part-way through the renames
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
            if path.is_file():
                previous[path] = kept = path.with_name(f".{path.name}.{secrets.token_hex(6)}.previous")
                try:
                    os.link(path, kept)
                except OSError:  # a file system without hard links
                    shutil.copy2(path, kept)
        for path, partial in partials.items():
            os.replace(partial, path)
            renamed.append(path)
    except BaseException:
        for path in renamed:
            if path in previous:
                os.replace(previous.pop(path), path)
            else:
                path.unlink(missing_ok=True)
        for partial in partials.values():
            partial.unlink(missing_ok=True)
        raise
    finally:
        for kept in previous.values():
            kept.unlink(missing_ok=True)


def _partial_name(path: Path) -> Path:
    """A hidden name beside ``path``, with its last suffix (which may choose the compression)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial{path.suffix}")


def gzipped(path: Path) -> bool:
    """True for a name ending in ``.gz``, in any case (``orders.jsonl.GZ``)."""
    return Path(path).suffix.lower() == ".gz"


def open_text(path: Path, mode: str = "r") -> IO[str]:
    """Open ``path`` for text; ``.gz`` files are (de)compressed, written with a fixed mtime."""
    path = Path(path)
    if not gzipped(path):
        return path.open(mode, encoding="utf-8", newline="\n" if "w" in mode else None)
    if "w" in mode:
        raw = gzip.GzipFile(filename="", fileobj=path.open("wb"), mode="wb", mtime=0)
        return io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
    return io.TextIOWrapper(gzip.GzipFile(path, "rb"), encoding="utf-8")


def text_writer(text: str) -> Callable[[Path], object]:
    """A ``write`` for :func:`replace_file` and :func:`replace_files`: ``text`` as UTF-8,
    compressed when the name ends in ``.gz`` (the partial file keeps that suffix)."""

    def write(partial: Path) -> None:
        with open_text(partial, "w") as fh:
            fh.write(text)

    return write


def replace_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8; a ``.gz`` name compresses), whole."""
    replace_file(path, text_writer(text))


def require_regular_file(path: Path) -> None:
    """OSError unless ``path`` is a regular file (or a link to one): a FIFO or a device would
    block its reader, a folder cannot be read as a file."""
    mode = path.stat().st_mode  # FileNotFoundError, ...
    if not stat.S_ISREG(mode):
        raise IsADirectoryError(errno.EISDIR, "a folder", str(path)) if stat.S_ISDIR(mode) else \
            OSError(errno.EINVAL, "not a regular file", str(path))
