"""Run the API under gunicorn, the production WSGI server, from Python (``fraudscreen serve``).

Each worker process builds its own Flask app (no ``preload_app``), then screens one built-in
sample order without storing it (:func:`warm_up`), so the lazily built indexes (place names,
user-agent parser, rule programs) are ready before the worker takes its first real request
instead of making that request wait seconds.

``SIGHUP`` to the master reloads in place: the master passes it on to every worker, and each
reloads the model bundle, the rules file and the GeoIP databases in a thread while it goes on
answering (:func:`fraudscreen.api.model_admin.install_reload_signal`). gunicorn's own reload
replaced the workers instead, and no request was answered until the new ones had loaded
(about 14 s with 3 workers on 2 cores). The settings stay as they were at start. Worker options were chosen with ``benchmarks/http_score.py``
(see ``benchmarks/README.md``): gthread workers (keep-alive connections are held in the
worker's poller) with one thread each; scale with ``--workers`` (one per core).

Prometheus metrics are added up over the workers (``prometheus_client``'s multiprocess mode):
the server points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder that it holds locked before any
worker starts (:func:`claim_metrics_dir`), so ``/metrics`` gives the same totals whichever worker
answers the scrape, and a second server on the same data dir counts apart.
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import gc
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from fraudscreen.config import Settings, metrics_dir, use_metrics_dir
from fraudscreen.errors import ConfigError
from fraudscreen.logs import stale_files

log = logging.getLogger(__name__)

WARM_UP_ORDER: dict[str, Any] = {
    "device": {
        "ip_address": "81.2.69.142",
        "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "accept_language": "en-GB,en;q=0.8",
        "id": "warm-up-device",
    },
    "event": {"type": "purchase"},
    "account": {"user_id": "warm-up-account"},
    "email": {"address": "warm.up@example.org"},
    "billing": {"country": "GB", "city": "London", "postal": "EC2A 4NE",
                "phone_number": "+44 20 7946 0958"},
    "payment": {"method": "card"},
    "credit_card": {"issuer_id_number": "411111", "last_digits": "1111", "country": "GB",
                    "avs_result": "Y", "cvv_result": "Y"},
    "order": {"amount": 119.0, "currency": "GBP"},
    "shopping_cart": [{"category": "vps", "item_id": "vps-m", "quantity": 1, "price": 119.0}],
}
"""A typical order that touches every enrichment; screened once per worker, never stored."""


def warm_up(app: Any) -> float:
    """Screen :data:`WARM_UP_ORDER` with the app's screener without storing it; seconds taken.

    A failure is logged and ignored: the worker then warms up on its first request instead.
    """
    from fraudscreen.rules.engine import rule_errors_not_counted
    from fraudscreen.schema import parse_order

    started = time.perf_counter()
    try:
        screener = app.extensions["fraudscreen"]
        order, warnings = parse_order(WARM_UP_ORDER)
        with rule_errors_not_counted():  # the metric counts failures on real orders only
            screener.evaluate(order, warnings)
    except Exception as exc:  # noqa: BLE001 - e.g. the database is down: the worker must still start
        log.warning("worker warm-up skipped: %s", type(exc).__name__)
    return time.perf_counter() - started


def write_json_error(sock: Any, status_int: int, reason: str, _message: str) -> None:
    """gunicorn's answer to a request it cannot read (a request line over 4094 bytes, headers
    too large, not HTTP), in the API's JSON error format instead of gunicorn's HTML page.
    The request is not echoed: it may hold anything."""
    body = json.dumps({"error": {
        "code": reason.lower().replace(" ", "_"),
        "message": f"{reason}: the server could not read the request.",
        "details": [],
    }})
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    gunicorn_util.write_nonblock(sock, (head + body).encode("latin-1"))


def _post_worker_init(worker: Any) -> None:
    from fraudscreen.api.model_admin import install_reload_signal

    # gunicorn writes its own errors with util.write_error (an HTML page): answer JSON instead
    gunicorn_util.write_error = write_json_error
    install_reload_signal(worker.wsgi.extensions["fraudscreen"])  # SIGHUP: reload in place
    seconds = warm_up(worker.wsgi)
    # The loaded parts live as long as the worker: keep the cyclic GC from rescanning them.
    gc.collect()
    gc.freeze()
    log.info("worker %s warmed up in %.2f s", worker.pid, seconds)


def _child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def prepare_metrics_dir(settings: Settings) -> Path | None:
    """Point ``PROMETHEUS_MULTIPROC_DIR`` at an empty folder under the data dir (or keep the
    operator's own), before any worker exists (:func:`claim_metrics_dir`). None (metrics per worker) if ``prometheus_client`` is already
    loaded in this process: its metrics would not see the folder."""
    configured = metrics_dir()
    if configured is not None:
        configured.mkdir(parents=True, exist_ok=True)  # prometheus_client writes there
        return configured
    if "prometheus_client" in sys.modules:
        log.warning("metrics are per worker: prometheus_client was loaded before the server")
        return None
    path = claim_metrics_dir(settings.data_dir / "run")
    use_metrics_dir(path)
    return path


_held_locks: dict[Path, int] = {}
"""The metrics folder this server holds (``flock`` on the folder itself) as long as it runs."""


def claim_metrics_dir(run_dir: Path) -> Path:
    """An empty metrics folder under ``run_dir`` that this process holds locked: ``metrics``,
    or, while another server on the same data dir holds that one, a ``metrics-*`` of its own
    (removed when this server stops). Folders of servers that are gone are removed; the
    counts of one that still runs are left alone (emptying them reset its ``/metrics``)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in stale_files(run_dir, "metrics-"):  # no live server holds it
        shutil.rmtree(stale, ignore_errors=True)
    path = run_dir / "metrics"
    path.mkdir(exist_ok=True)
    lock = _lock(path)
    if lock is None:
        path = Path(tempfile.mkdtemp(prefix="metrics-", dir=run_dir))
        lock = _lock(path)
        assert lock is not None  # a folder made just now
        log.warning("another server uses this data dir's metrics folder: this one counts in %s",
                    path.name)
        atexit.register(_remove_when_master_exits, path, os.getpid())
    for leftover in path.iterdir():
        if leftover.is_dir():  # files of an earlier run would add to the counts
            shutil.rmtree(leftover)
        else:
            leftover.unlink()
    _held_locks[path] = lock
    return path


def _remove_when_master_exits(path: Path, master: int) -> None:
    """The forked workers inherit the master's ``atexit`` hooks: only the master removes."""
    if os.getpid() == master:
        shutil.rmtree(path, ignore_errors=True)


def _lock(folder: Path) -> int | None:
    """A descriptor of ``folder`` that this process holds locked, as
    :func:`~fraudscreen.logs.stale_files` tells; None when another process holds it. Workers
    forked later share the lock: it lasts while any of them runs."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


WORKER_THREADS = 1
"""Threads per gthread worker. One: on 2 cores, more threads per process only add GIL hand-offs
(measured: 2 workers x 1 thread served the most orders/s and the lowest p99; see benchmarks/)."""


class _ReloadInPlaceArbiter(Arbiter):  # type: ignore[misc]
    """gunicorn's master, but ``SIGHUP`` is passed on to the workers instead of replacing them."""

    def handle_hup(self) -> None:
        self.log.info("Hang up: every worker reloads the model, the rules and GeoIP in place")
        # A worker still starting (before its post_worker_init) dies of it and is started again,
        # reading the new files: the same outcome.
        self.kill_workers(signal.SIGHUP)


def bind_address(settings: Settings) -> str:
    """gunicorn's ``bind``: ``host:port``, an IPv6 address in brackets (``[::1]:8000``)."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"{host}:{settings.port}"


def check_can_listen(settings: Settings) -> None:
    """ConfigError, in one line, when the server could not listen on ``host:port``: a host name
    that does not resolve, an address of no interface here, a port in use or not allowed.
    gunicorn would retry for five seconds and then stop with its own lines."""
    where = bind_address(settings)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(  # as gunicorn: a name is IPv4
            settings.host, settings.port, family=socket.AF_INET6 if ":" in settings.host
            else socket.AF_INET, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(f"cannot listen on {where}: the host does not resolve "
                          f"({getattr(exc, 'strerror', None) or type(exc).__name__})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            why = "the port is in use" if exc.errno == errno.EADDRINUSE else (
                exc.strerror or type(exc).__name__)
            raise ConfigError(f"cannot listen on {where}: {why}") from None


class FraudscreenServer(BaseApplication):  # type: ignore[misc]
    """A gunicorn application that builds one Flask app per worker from the settings."""

    def __init__(self, settings: Settings, options: dict[str, Any] | None = None) -> None:
        self.settings = settings
        prepare_metrics_dir(settings)
        self.options = {
            "bind": bind_address(settings),
            "workers": settings.workers,
            "worker_class": "gthread",
            "threads": WORKER_THREADS,
            "keepalive": 30,
            "accesslog": None,
            "loglevel": settings.log_level.lower(),
            "post_worker_init": _post_worker_init,
            "child_exit": _child_exit,
            # gunicorn >= 25 opens a control socket in $HOME, shared by every instance on the
            # host (the last one started takes it over); none is needed here
            "control_socket_disable": True,
            **(options or {}),
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        from fraudscreen.api import create_app

        return create_app(self.settings)

    def run(self) -> None:
        """Serve until stopped, with the master that reloads workers in place on ``SIGHUP``."""
        try:
            _ReloadInPlaceArbiter(self).run()
        except RuntimeError as exc:  # as gunicorn's own run(): a start-up error, one line
            print(f"\nError: {exc}\n", file=sys.stderr)
            sys.stderr.flush()
            sys.exit(1)


def run_server(settings: Settings, options: dict[str, Any] | None = None) -> None:
    """Serve until interrupted."""
    FraudscreenServer(settings, options).run()
