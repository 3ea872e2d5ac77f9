"""Shared fixtures: a real PostgreSQL server started by the test session, and fresh databases.

The server runs from the distribution's binaries (/usr/lib/postgresql/*/bin) on a throwaway data
directory and a free port on 127.0.0.1; as root, initdb and pg_ctl run as the `postgres` user,
because they refuse to run as root. Without the binaries the PostgreSQL tests are skipped, or fail
when CI=true. Any test using `pg_server` gets the `postgres` marker, so `-m "not postgres"` runs
the rest without a server.
"""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from warmup_autoscaler.store.database import Database


class PgServer:
    """A PostgreSQL server of the test session; `stop()` and `start()` let tests take it away."""

    def __init__(self, bindir: Path, root: Path, *, as_postgres: bool) -> None:
        self.bindir = bindir
        self.root = root
        self.as_postgres = as_postgres
        self.host = "127.0.0.1"
        self.port = 0
        self.running = False

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/postgres"

    def url(self, dbname: str, *, password: str | None = None) -> str:
        user = "postgres" if password is None else f"postgres:{password}"
        return f"postgresql+psycopg://{user}@{self.host}:{self.port}/{dbname}"

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.root / "data"),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def start(self) -> None:
        """Start the server (on a new free port the first time, on the same port afterwards)."""
        if self.running:
            return
        self.port = self.port or _free_port()
        options = (
            f"-k {self.root} -p {self.port} -c listen_addresses={self.host} -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.root / "data"),
            "-l",
            str(self.root / "pg.log"),
            "-w",
            "-o",
            options,
            "start",
        )
        self.running = True

    def stop(self) -> None:
        """Stop the server at once (`-m immediate`), as a crash or an outage would."""
        if not self.running:
            return
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        self.running = False

    def _run(self, program: str, *args: str) -> None:
        argv = [str(self.bindir / program), *args]
        if self.as_postgres:
            argv = ["su", "postgres", "-c", shlex.join(argv)]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = self.root / "pg.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{program} failed: {done.stdout}{done.stderr}\n{tail}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _find_bindir() -> tuple[Path | None, str]:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        bindir = Path(candidate)
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir, ""
    return None, "no initdb/pg_ctl under /usr/lib/postgresql/*/bin"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "pg_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    bindir, why = _find_bindir()
    as_postgres = os.geteuid() == 0
    if bindir is not None and as_postgres:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            bindir, why = None, "running as root and there is no `postgres` user to run them as"
    if bindir is None:
        message = f"PostgreSQL server binaries not found (apt-get install postgresql): {why}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    # Not under pytest's tmp dir: that one is 0700 and the postgres user must reach the data dir.
    root = Path(tempfile.mkdtemp(prefix="warmup-pg-"))
    if as_postgres:
        shutil.chown(root, "postgres", "postgres")
    server = PgServer(bindir, root, as_postgres=as_postgres)
    try:
        server.init()
        server.start()
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_admin(pg_server: PgServer) -> Iterator[Engine]:
    engine = create_engine(pg_server.admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(pg_server: PgServer, pg_admin: Engine) -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield pg_server.url(name)
    pg_server.start()  # in case the test stopped it and failed before restarting it
    with pg_admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file that does not exist yet."""
    return f"sqlite:///{tmp_path / 'warmup.db'}"


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
    ids=["sqlite", "postgresql"],
)
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database on each backend."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()
