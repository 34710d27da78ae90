"""A throwaway PostgreSQL server for the tests (initdb + pg_ctl in a temporary directory).

PostgreSQL refuses to run as root, so as root the directory is handed to the
``postgres`` user and the binaries run through ``runuser -u postgres --``. Without
PostgreSQL binaries the tests are skipped, unless ``FRAUDSCREEN_REQUIRE_POSTGRES`` is
set (CI), in which case they fail loudly.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REQUIRE_ENV = "FRAUDSCREEN_REQUIRE_POSTGRES"
SYSTEM_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries (or no way to run them) on this machine."""


def find_bin_dir() -> Path:
    """The directory holding initdb and pg_ctl: the PATH first, then /usr/lib/postgresql/*/bin."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
    )
    for candidate in reversed(candidates):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise PostgresUnavailable("initdb/pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """A running server; :meth:`url` gives SQLAlchemy URLs, :meth:`stop` removes everything."""

    bin_dir: Path
    root: Path
    port: int
    as_root: bool

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", SYSTEM_USER, "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr[-2000:]}")
        return result

    def start(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
        sock_dir = self.root / "sock"
        options = (
            f"-F -c fsync=off -c full_page_writes=off -k {sock_dir} -h 127.0.0.1 -p {self.port}"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "-l",
            str(self.root / "server.log"),
            "start",
        )

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def admin_sql(self, *statements: str, database: str = "postgres") -> None:
        """Run statements in autocommit as the superuser (CREATE DATABASE, DROP SCHEMA, ...)."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=database, autocommit=True
        ) as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]


def start_postgres() -> PostgresServer:
    """Start a fresh server on a free loopback port; the caller must call ``stop()``."""
    bin_dir = find_bin_dir()
    as_root = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="fraudscreen-pg-"))
    (root / "sock").mkdir()
    if as_root:
        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError as exc:
            shutil.rmtree(root, ignore_errors=True)
            raise PostgresUnavailable("running as root and there is no 'postgres' user") from exc
        for path in (root, root / "sock"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        os.chmod(root, 0o755)
    last_error: Exception | None = None
    for _attempt in range(3):  # the free port can be taken between probe and start
        server = PostgresServer(bin_dir, root, _free_port(), as_root)
        try:
            if server.data_dir.exists():
                shutil.rmtree(server.data_dir)
            server.start()
            return server
        except RuntimeError as exc:
            last_error = exc
            time.sleep(0.2)
    shutil.rmtree(root, ignore_errors=True)
    raise RuntimeError(f"could not start PostgreSQL: {last_error}")


def require_postgres() -> bool:
    """True when the environment demands PostgreSQL tests (no skipping)."""
    return bool(os.environ.get(REQUIRE_ENV))
