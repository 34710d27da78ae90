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
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from fraudscreen.errors import ConfigError

SECRETS_FILE = "secrets.json"


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
        data = json.loads(path.read_text())
        return InstallationSecrets(email_hmac_key=bytes.fromhex(data["email_hmac_key"]))
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"cannot read the secrets file under {data_dir}") from exc


_CHECK_MESSAGE = b"fraudscreen: which email key made this database's hashes"


def key_check(installation: InstallationSecrets) -> int:
    """A 63-bit check value of the email key (an HMAC of a fixed text under it): equal keys give
    equal values, and the value tells nothing about the key."""
    digest = hmac.new(installation.email_hmac_key, _CHECK_MESSAGE, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") >> 1
