"""Shared test data: a realistic order and settings pointing at the test GeoIP databases."""

from __future__ import annotations

import copy
import heapq
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fraudscreen.config import Settings
from fraudscreen.screening import Screener
from fraudscreen.training.prepare import LABEL_FIELDS

DATA = Path(__file__).parent / "data"
MAXMIND = DATA / "maxmind"

ORDER: dict[str, Any] = {
    "device": {
        "ip_address": "81.2.69.142",
        "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "accept_language": "en-GB,en;q=0.8",
        "id": "dev-7f3a",
    },
    "event": {"transaction_id": "t-1", "time": "2026-11-20T10:00:00Z", "type": "purchase"},
    "account": {"user_id": "acct-a", "created_at": "2026-10-01T09:00:00Z"},
    "email": {"address": "jane.doe@example.org"},
    "billing": {"country": "GB", "city": "London", "postal": "EC2A 4NE",
                "phone_number": "+44 20 7946 0958"},
    "payment": {"method": "card"},
    "credit_card": {"issuer_id_number": "411111", "last_digits": "1111", "country": "GB",
                    "avs_result": "Y", "cvv_result": "Y"},
    "order": {"amount": 119.0, "currency": "GBP"},
    "shopping_cart": [{"category": "vps", "item_id": "vps-m", "quantity": 1, "price": 119.0}],
}


def fraudscreen_command() -> list[str]:
    """The installed ``fraudscreen`` command, as a user runs it."""
    script = Path(sys.executable).with_name("fraudscreen")
    return [str(script)] if script.exists() else [sys.executable, "-m", "fraudscreen.cli"]


@contextmanager
def start_in_a_terminal(args: list[str], data_dir: Path, **env: str) -> Iterator[subprocess.Popen[str]]:
    """``fraudscreen *args`` in a session of its own, as a terminal starts it: Ctrl-C
    (:func:`press_ctrl_c`) reaches its whole process group; stderr is piped. Its process
    group is killed on leaving, whatever happened."""
    # A process started where Ctrl-C is ignored (a background job) inherits that; a handler
    # is not inherited but reset to the default, as in a terminal.
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(
            [*fraudscreen_command(), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
            env={**os.environ, "FRAUDSCREEN_DATA_DIR": str(data_dir), **env},
        )
    finally:
        signal.signal(signal.SIGINT, inherited)
    try:
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


def press_ctrl_c(process: subprocess.Popen[str]) -> str:
    """Send SIGINT to the process group of :func:`start_in_a_terminal`'s process; its stderr."""
    assert process.poll() is None, "the command ended before it could be interrupted"
    os.killpg(process.pid, signal.SIGINT)
    return process.communicate(timeout=60)[1]


def order_body(**changes: Any) -> dict[str, Any]:
    """A copy of :data:`ORDER` with ``part__field=value`` changes (``None`` removes the field)."""
    data = copy.deepcopy(ORDER)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = data
        for p in parents:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return data


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    """Settings on a temporary data dir with the MaxMind test City, ASN and Anonymous-IP databases."""
    base = Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        geoip_city_path=str(MAXMIND / "GeoIP2-City-Test.mmdb"),
        geoip_asn_path=str(MAXMIND / "GeoLite2-ASN-Test.mmdb"),
        geoip_anonymous_ip_path=str(MAXMIND / "GeoIP2-Anonymous-IP-Test.mmdb"),
    )
    return base.with_overrides(**overrides) if overrides else base


def auth(key: str) -> dict[str, str]:
    """The Authorization header for an API key."""
    return {"Authorization": f"Bearer {key}"}


def screen_live(settings: Settings, rows: list[dict[str, Any]]) -> tuple[Screener, dict[str, str]]:
    """Screen ``rows`` through the live Screener in event-time order; report fraud at label time.

    The same schedule as the replay: a fraud label becomes a chargeback at its ``label_time``
    (default: order time + 30 days). Returns the screener and order id -> transaction id.
    """
    screener = Screener.from_settings(settings)
    pending: list[tuple[datetime, int, str]] = []
    ids: dict[str, str] = {}
    for seq, row in enumerate(sorted(rows, key=lambda r: r["event"]["time"])):
        at = datetime.fromisoformat(row["event"]["time"])
        while pending and pending[0][0] <= at:
            reported_at, _, order_id = heapq.heappop(pending)
            screener.store.record_outcome(order_id, "chargeback", reported_at)
        body = {k: v for k, v in row.items() if k not in LABEL_FIELDS}
        answer = screener.screen(body, received_at=at).response
        ids[answer["id"]] = answer["order_id"]
        if row["label"] == "fraud":
            label_time = datetime.fromisoformat(row["label_time"]) if row.get("label_time") else at + timedelta(days=30)
            heapq.heappush(pending, (max(label_time, at), seq, answer["id"]))
    for reported_at, _, order_id in pending:  # labels that arrive after the last order
        screener.store.record_outcome(order_id, "chargeback", reported_at)
    return screener, ids


def late_labelled_rows(seed: int, late_share: float, n: int = 3000) -> Any:
    """A ReplayResult of ``n`` rows, one a second, 6% fraud with a feature that tells them apart:
    ``late_share`` of the frauds are reported 2,000 s after their order, the others after 10 s,
    and a row without a known fraud label counts as legit after 300 s (the label delay)."""
    import numpy as np

    from fraudscreen.features import FEATURE_NAMES
    from fraudscreen.training.pipeline import ReplayResult

    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.06).astype(np.int8)
    X = rng.normal(size=(n, len(FEATURE_NAMES)))
    X[:, 0] += 3 * y
    times = np.arange(n, dtype=np.float64)
    delay = np.where(rng.random(n) < late_share, 2000.0, 10.0)
    return ReplayResult(X=X, y=y, event_times=times, order_ids=[str(i) for i in range(n)],
                        skipped=0, label_times=np.where(y == 1, times + delay, np.nan),
                        label_delay_days=300 / 86_400)


@contextmanager
def stopped(pids: list[int]) -> Iterator[None]:
    """The server processes ``pids`` stopped (``SIGSTOP``: a stalled disk, a paused machine),
    their connections open and acknowledged by the kernel, until the block ends."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with suppress(ProcessLookupError):  # one that ended after its connection was cut
                os.kill(pid, signal.SIGCONT)


def libpq_dsn(database_url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as psycopg connects to it (no ``+psycopg`` driver name)."""
    import sqlalchemy as sa

    return sa.make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def named_connections(database_url: str, application_name: str) -> str:
    """``database_url`` with connections named ``application_name`` (see :func:`backend_pids`)."""
    import sqlalchemy as sa

    url = sa.make_url(database_url).update_query_dict({"application_name": application_name})
    return url.render_as_string(hide_password=False)


def backend_pids(database_url: str, application_name: str) -> list[int]:
    """The PostgreSQL server processes of the connections named ``application_name``."""
    import psycopg

    with psycopg.connect(libpq_dsn(database_url)) as admin:
        rows = admin.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                             (application_name,))
        return [int(row[0]) for row in rows]
