"""Where a command may write: a writable place, and never over the service's own files.

Every output of the command line (reports, exports, simulated orders, model bundles) is
checked before anything is read or computed: a typo must not replace the database, the
secrets file that keys the e-mail hashes, a log file, the rules file or the model bundle the
service loads, nor fail after a long replay. Outputs are written beside and then renamed into
place, so only a regular file (or a name that does not exist yet) can be one: a device, a FIFO
or a symbolic link would be replaced by a file, not written to.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import click

from fraudscreen.config import Settings
from fraudscreen.errors import StoreError

__all__ = ["OutputFile", "check_output", "check_writable", "file_identity", "refuse_service_file", "service_file"]

_SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


class OutputFile(click.Path):
    """A file option to write: a path (:class:`pathlib.Path`) that names a file, not a folder
    (``out/``, which would otherwise be written as a file called ``out``)."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("an empty name names no file.", param, ctx)
        if value == "-":  # read elsewhere as standard output: a file called "-" surprised
            self.fail("- is not standard output here; name a file (./- for one called -).",
                      param, ctx)
        if isinstance(value, str) and value.endswith(("/", os.sep)):
            self.fail(f"{value} names a folder; name a file in it.", param, ctx)
        return super().convert(value, param, ctx)


class OutputFolder(click.Path):
    """A folder option to write into; an empty name (an unset ``$DIR``) is refused, not taken as
    the current folder."""

    def __init__(self) -> None:
        super().__init__(file_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("an empty name names no folder.", param, ctx)
        return super().convert(value, param, ctx)


def file_identity(path: Path) -> Any:
    """The same for every name of one file (links, ``..`` through folders that do not exist):
    device and inode when it exists, else its absolute path with links resolved."""
    resolved = Path(path).resolve()
    try:
        info = resolved.stat()
    except OSError:
        return resolved
    return info.st_dev, info.st_ino


def service_file(settings: Settings, path: Path, *, model_bundle_ok: bool = False) -> str | None:
    """What ``path`` is to the service, when it is one of its own files: its SQLite database
    or a side file of it, its secrets file, a file in its log directory, its rules file, or its
    model bundle or a model card beside it (unless ``model_bundle_ok``: ``train --out`` writes
    the bundle the service loads, and ``make model`` does just that); else None."""
    from fraudscreen.installation import SECRETS_FILE
    from fraudscreen.model import bundle_file
    from fraudscreen.store import sqlite_file
    from fraudscreen.training.card import CARD_FILES

    target = file_identity(path)
    if target == file_identity(settings.data_dir / SECRETS_FILE):
        return "the service's secrets file"
    if target == file_identity(settings.resolved_rules_path):
        return "the service's rules file"
    bundle = bundle_file(settings.resolved_model_path)
    if not model_bundle_ok and target in {file_identity(bundle), *(
            file_identity(bundle.parent / name) for name in CARD_FILES)}:
        return "the service's model bundle or its model card"
    try:
        database = sqlite_file(settings.resolved_database_url)
    except StoreError:  # not a database URL: the commands that open it say so
        database = None
    if database is not None and target in {file_identity(Path(f"{database}{suffix}"))
                                            for suffix in _SQLITE_SIDE_FILES}:
        return "the service's database"
    if file_identity(Path(path).resolve().parent) == file_identity(settings.resolved_log_dir):
        return "in the service's log directory"
    return None


def check_output(settings: Settings, path: Path, option: str, *, model_bundle_ok: bool = False) -> None:
    """:class:`click.BadParameter` (naming ``option``) unless ``path`` is a file that can be
    written (:func:`check_writable`) and none of the service's own (:func:`service_file`)."""
    try:
        check_writable(path)
    except click.BadParameter as exc:
        exc.param_hint = option
        raise
    refuse_service_file(settings, path, option, model_bundle_ok=model_bundle_ok)


def refuse_service_file(settings: Settings, path: Path, option: str, *, model_bundle_ok: bool = False) -> None:
    """:class:`click.BadParameter` (naming ``option``) when ``path`` is :func:`service_file`."""
    what = service_file(settings, path, model_bundle_ok=model_bundle_ok)
    if what is not None:
        raise click.BadParameter(f"{path} is {what}; write the output elsewhere.", param_hint=option)


def _probe_dir(directory: Path) -> None:
    """OSError unless a file can be created in ``directory`` (also true for root on /proc)."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=".fraudscreen-write-test-")
    os.close(fd)
    os.unlink(name)


def check_writable(path: Path, *, directory: bool = False) -> None:
    """:class:`click.BadParameter` unless ``path`` (a file, or a folder) can be written.

    The path may not exist yet: its nearest existing ancestor must then be a writable folder
    (the missing folders are made when writing). An existing file must be a regular file, not
    a symbolic link (see the module). Checked before any replay, not after.
    """
    try:
        _check_writable(path, directory)
    except OSError as exc:  # a name too long, a folder that cannot be searched, ...
        raise click.BadParameter(f"cannot use {path} ({exc.strerror or type(exc).__name__}).") from None


def _check_writable(path: Path, directory: bool) -> None:
    if not directory and path.is_symlink():
        raise click.BadParameter(f"{path} is a symbolic link, which the output would replace; "
                                 f"name the file itself ({path.resolve()}).")
    if not directory and path.exists() and not path.is_dir() and not path.is_file():
        raise click.BadParameter(f"{path} is not a regular file (a device, a FIFO or a socket), "
                                 "which the output would replace; write to a file.")
    if path.exists():
        if path.is_dir() != directory:
            raise click.BadParameter(f"{path} is {'a file' if directory else 'a directory'}.")
        if not os.access(path, os.W_OK):
            raise click.BadParameter(f"{path} is not writable.")
        where = path if directory else path.parent
    else:
        where = path.parent
        while not where.exists() and where != where.parent:
            where = where.parent
        if not where.is_dir():
            raise click.BadParameter(f"{where} is not a directory.")
    try:
        _probe_dir(where)
    except OSError as exc:
        raise click.BadParameter(f"cannot write in {where} ({exc.strerror or type(exc).__name__}).") from None
