"""Per-installation secrets, generated on first start under the data directory.

The file ``<data_dir>/secrets.json`` (mode 0600) holds the key of the email HMAC. It is never
committed, never logged, and the same for every worker of one installation. Hosts that share
one database must share the file too: the database keeps a check value of the key it was first
used with (:func:`key_check`), and a host with another key is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from fraudscreen.errors import ConfigError
from fraudscreen.files import require_regular_file

log = logging.getLogger(__name__)

SECRETS_FILE = "secrets.json"
MIN_KEY_BYTES = 32
"""The shortest email key taken (the first start generates one this long): a short key would let
anyone who reads the hashes guess addresses by trying them."""


@dataclass(frozen=True)
class InstallationSecrets:
    """Secrets of one installation. ``repr`` never shows them."""

    email_hmac_key: bytes

    def __repr__(self) -> str:
        return "InstallationSecrets(email_hmac_key=**********)"


def load_or_create_secrets(data_dir: Path) -> InstallationSecrets:
    """Read the secrets file, creating it atomically with fresh random keys if absent."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRETS_FILE
    if not path.exists():
        payload = json.dumps({"email_hmac_key": secrets.token_hex(32)})
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(payload)
        try:
            os.link(tmp, path)  # fails if another worker created it first: theirs wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    try:
        require_regular_file(path)  # a FIFO would block every start
        if path.stat().st_mode & 0o077:  # copied to another host without its mode, say
            os.chmod(path, 0o600)
            log.warning("the secrets file %s was readable by others: made 0600", path)
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the secrets file {path} "
                          f"({getattr(exc, 'strerror', None) or 'not JSON'})") from exc
    key = data.get("email_hmac_key") if isinstance(data, dict) else None
    try:
        secret = bytes.fromhex(key) if isinstance(key, str) else b""
    except ValueError:
        secret = b""
    if len(secret) < MIN_KEY_BYTES:
        raise ConfigError(f"the secrets file {path} must hold an object whose email_hmac_key is at "
                          f"least {2 * MIN_KEY_BYTES} hex digits ({MIN_KEY_BYTES} random bytes, as "
                          "the first start writes it)")
    return InstallationSecrets(email_hmac_key=secret)


_CHECK_MESSAGE = b"fraudscreen: which email key made this database's hashes"


def key_check(installation: InstallationSecrets) -> int:
    """A 63-bit check value of the email key (an HMAC of a fixed text under it): equal keys give
    equal values, and the value tells nothing about the key."""
    digest = hmac.new(installation.email_hmac_key, _CHECK_MESSAGE, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") >> 1
