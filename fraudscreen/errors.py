"""The one exception hierarchy of fraudscreen.

Every error the service raises on purpose derives from :class:`FraudscreenError`.
The API maps each class to an HTTP status and a stable ``code`` in one place
(``fraudscreen.api.errors``). Messages never contain personal data: callers pass
field names and pointers, never values.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorDetail:
    """One problem with one field of a request, located by a JSON pointer."""

    pointer: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "message": self.message}


def pointer_token(key: str) -> str:
    """``key`` as one reference token of an RFC 6901 JSON pointer (``~`` -> ``~0``, ``/`` -> ``~1``)."""
    return key.replace("~", "~0").replace("/", "~1") if ("~" in key or "/" in key) else key


class FraudscreenError(Exception):
    """Root of every error fraudscreen raises on purpose."""

    code: str = "internal_error"
    status: int = 500
    retry_after: int | None = None
    """Seconds after which the same request may succeed (the HTTP ``Retry-After`` of a 503)."""

    def __init__(self, message: str, *, details: list[ErrorDetail] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: list[ErrorDetail] = list(details or [])


class ConfigError(FraudscreenError):
    """The configuration is invalid (bad value, missing file)."""

    code = "config_error"


class InvalidRequestError(FraudscreenError):
    """The request body does not follow the schema; ``details`` point at the fields."""

    code = "invalid_request"
    status = 400


class CardNumberRefusedError(InvalidRequestError):
    """The body carries what looks like a full card number (a Luhn-valid 12–19 digit run)."""

    code = "card_number_refused"

    def __init__(self, pointers: list[str]) -> None:
        super().__init__(
            "The request contains a full card number. Send only credit_card.issuer_id_number, "
            "credit_card.last_digits and credit_card.token; nothing of this request was stored.",
            details=[ErrorDetail(p, "looks like a full card number") for p in pointers],
        )


class RequestTooLargeError(FraudscreenError):
    """The body is larger than the configured limit."""

    code = "request_too_large"
    status = 413


class UnsupportedEncodingError(FraudscreenError):
    """The body is compressed (``Content-Encoding: gzip``): bodies are read as sent."""

    code = "unsupported_content_encoding"
    status = 415


class AuthenticationError(FraudscreenError):
    """No API key, or an unknown or revoked one."""

    code = "unauthorized"
    status = 401


class PermissionDeniedError(FraudscreenError):
    """The API key is valid but lacks the scope for this endpoint."""

    code = "forbidden"
    status = 403


class NotFoundError(FraudscreenError):
    """The order, account or list entry does not exist."""

    code = "not_found"
    status = 404


class ConflictError(FraudscreenError):
    """The request conflicts with stored state (for example an outcome for an erased order)."""

    code = "conflict"
    status = 409


class StaleHistoryError(ConflictError):
    """The account's history changed under a screening (it was erased meanwhile): screen again."""

    code = "stale_history"


class ModelError(FraudscreenError):
    """A model bundle is missing, unreadable or does not fit the feature code."""

    code = "model_error"


class RuleError(FraudscreenError):
    """A rules file does not load or an expression does not compile."""

    code = "rule_error"


class StoreError(FraudscreenError):
    """The database could not be read or written."""

    code = "store_unavailable"
    status = 503
    retry_after = 1  # a lock released, a connection back: the busy wait already took seconds


class CommitUnknownError(StoreError):
    """The connection to the database was lost while it committed: the change may have been
    stored (PostgreSQL commits what it had received once it answers again) or not."""


class LogFilesError(FraudscreenError):
    """The service's log files could not be read, rewritten or deleted (erasure, purge)."""

    code = "log_files_unavailable"
    status = 503


class DataFileError(FraudscreenError):
    """A data file (JSON Lines of orders or training rows) cannot be read, or a saved replay
    written; names the file (and the line)."""

    code = "data_file_error"


class MixedRowsError(DataFileError):
    """Training rows that come from two replays, or from a replay and an export: ``row`` is
    the position (0-based) of the first row that differs, ``reason`` the message without it."""

    def __init__(self, row: int, reason: str) -> None:
        super().__init__(f"row {row + 1} {reason}")
        self.row = row
        self.reason = reason
