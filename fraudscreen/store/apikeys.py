"""API keys: random ``fs_`` tokens of which only a SHA-256 digest is stored.

The keys are 256-bit random tokens, so a fast hash is the right tool (a password
hash like argon2 only pays off for low-entropy secrets); lookups go by the indexed
digest and the final comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from fraudscreen.errors import InvalidRequestError, NotFoundError
from fraudscreen.store.base import StoreBase, utcnow
from fraudscreen.store.tables import api_keys

SCOPES: tuple[str, ...] = ("score", "outcomes", "admin")
"""Every scope a key can carry."""
KEY_PREFIX = "fs_"
DISPLAY_PREFIX_LEN = 10  # "fs_" + 7 characters: enough to tell keys apart, far from enough to guess
_MAX_KEY_LEN = 128


@dataclass(frozen=True)
class ApiKey:
    """A stored API key (never the key itself)."""

    id: str
    """Stable identifier, for listing and revoking."""
    name: str
    """Human label, e.g. the integration that uses it."""
    prefix: str
    """The first characters of the key, for display; not secret."""
    scopes: tuple[str, ...]
    """What the key may do: score, outcomes, admin."""
    created_at: datetime
    revoked_at: datetime | None
    """When the key was revoked; None while it is active."""

    @property
    def active(self) -> bool:
        """True until the key is revoked."""
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        """True when the key carries exactly this scope."""
        return scope in self.scopes


def hash_key(key: str) -> str:
    """Hex SHA-256 digest of an API key, the only form of it that is stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _row_to_key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=tuple(row.scopes),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


_COLUMNS = (
    api_keys.c.id,
    api_keys.c.name,
    api_keys.c.prefix,
    api_keys.c.scopes,
    api_keys.c.created_at,
    api_keys.c.revoked_at,
)
_SELECT_BY_HASH = select(*_COLUMNS, api_keys.c.key_hash).where(
    api_keys.c.key_hash == bindparam("key_hash")
)


class ApiKeysMixin(StoreBase):
    """API key management and authentication."""

    def create_api_key(
        self, name: str, scopes: Sequence[str], *, actor: str = "system"
    ) -> tuple[ApiKey, str]:
        """Create a key; returns the record and the key itself, which is shown only this once."""
        name = name.strip()
        if not name:
            raise InvalidRequestError("an API key needs a name")
        wanted = tuple(dict.fromkeys(scopes))
        unknown = [s for s in wanted if s not in SCOPES]
        if not wanted or unknown:
            raise InvalidRequestError(f"scopes must be a non-empty subset of {', '.join(SCOPES)}")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKey(
            id="key_" + secrets.token_hex(8),
            name=name,
            prefix=key[:DISPLAY_PREFIX_LEN],
            scopes=wanted,
            created_at=utcnow(),
            revoked_at=None,
        )
        with self._write() as conn:
            conn.execute(
                insert(api_keys),
                {
                    "id": record.id,
                    "name": record.name,
                    "prefix": record.prefix,
                    "key_hash": hash_key(key),
                    "scopes": list(record.scopes),
                    "created_at": record.created_at,
                    "revoked_at": None,
                },
            )
            self._audit(
                conn, actor, "api_key.create", record.id, {"name": name, "scopes": list(wanted)}
            )
        return record, key

    def authenticate(self, key: str) -> ApiKey | None:
        """The active key matching ``key``, or None (unknown, malformed or revoked)."""
        if not isinstance(key, str) or not key.startswith(KEY_PREFIX) or len(key) > _MAX_KEY_LEN:
            return None
        digest = hash_key(key)
        row = self._fast.fetch_one(_SELECT_BY_HASH, {"key_hash": digest})  # per request: fast path
        if row is None or not hmac.compare_digest(row[6], digest) or row[5] is not None:
            return None
        scopes = row[3] if isinstance(row[3], list) else json.loads(row[3])
        created_at = self._fast.read_time(row[4])
        assert created_at is not None  # NOT NULL column
        return ApiKey(row[0], row[1], row[2], tuple(scopes), created_at, None)

    def list_api_keys(self) -> list[ApiKey]:
        """Every key, active and revoked, oldest first."""
        with self._read() as conn:
            rows = conn.execute(select(*_COLUMNS).order_by(api_keys.c.created_at, api_keys.c.id))
            return [_row_to_key(r) for r in rows]

    def revoke_api_key(self, key_id: str, *, actor: str = "system") -> None:
        """Revoke a key (idempotent); NotFoundError when no key has this id."""
        with self._write() as conn:
            revoked_at = conn.execute(
                select(api_keys.c.revoked_at).where(api_keys.c.id == key_id)
            ).first()
            if revoked_at is None:
                raise NotFoundError("no API key with this id")
            if revoked_at[0] is None:
                conn.execute(
                    update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=utcnow())
                )
                self._audit(conn, actor, "api_key.revoke", key_id, {})
