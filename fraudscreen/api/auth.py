"""API-key authentication: ``Authorization: Bearer <key>``, keys stored hashed, scopes checked."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request

from fraudscreen.errors import AuthenticationError, PermissionDeniedError, StoreError

F = TypeVar("F", bound=Callable[..., Any])

KEY_CACHE_SECONDS = 5.0
KEY_STALE_SECONDS = 600.0
"""While the database does not answer, a key checked this recently is still taken as checked."""
"""A revoked key stops working in every worker within this many seconds."""


class KeyCache:
    """Remembers recent authentications for a few seconds to keep the hot path off the database."""

    def __init__(
        self, ttl: float = KEY_CACHE_SECONDS, size: int = 256, stale: float = KEY_STALE_SECONDS
    ) -> None:
        self._ttl, self._size, self._stale = ttl, size, stale
        self._entries: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[str], Any]) -> Any:
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self._ttl:
            return entry[1]
        try:
            value = load(key)
        except StoreError:  # an outage: keep serving the keys seen lately (a revocation waits)
            if entry is not None and now - entry[0] < self._stale:
                return entry[1]
            raise
        with self._lock:
            if len(self._entries) >= self._size:
                self._entries.clear()
            self._entries[key] = (now, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _bearer_key() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthenticationError("Send an API key as 'Authorization: Bearer <key>'.")
    return key.strip()


def require_scope(scope: str) -> Callable[[F], F]:
    """Decorate a view: the request needs a valid API key holding ``scope`` (or ``admin``)."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            key = _bearer_key()
            screener = current_app.extensions["fraudscreen"]
            cache: KeyCache = current_app.extensions["fraudscreen_keys"]
            api_key = cache.get(key, screener.sql_store.authenticate)
            if api_key is None:
                raise AuthenticationError("The API key is not valid.")
            g.api_key = api_key  # the request log names it, a refused one too
            if scope not in api_key.scopes and "admin" not in api_key.scopes:
                raise PermissionDeniedError(f"This API key lacks the '{scope}' scope.")
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator
