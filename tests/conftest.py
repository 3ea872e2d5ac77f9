"""Shared fixtures: a real PostgreSQL server started by the test session, and fresh databases.

The server runs from the distribution's binaries (/usr/lib/postgresql/*/bin) on a throwaway data
directory and a free port on 127.0.0.1; as root, initdb and pg_ctl run as the `postgres` user,
because they refuse to run as root. Without the binaries the PostgreSQL tests are skipped, or fail
when CI=true. Any test using `pg_server` gets the `postgres` marker, so `-m "not postgres"` runs
the rest without a server.

Every test is hermetic (`hermetic`, autouse): no AUTO_SCALER_* or DATABASE_URL variable of the
shell that runs pytest reaches it, and it runs in an empty folder of its own, so the checkout's
`.env` (which the README tells users to create) is never read.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from tests.support.postgres import PgServer, _find_bindir
from warmup_autoscaler.store.database import Database

SETTINGS_VARIABLES = ("AUTO_SCALER_", "DATABASE_URL")


@pytest.fixture(autouse=True)
def hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No settings from the caller's environment, and an empty working directory (no `.env`)."""
    for name in list(os.environ):
        if name.startswith(SETTINGS_VARIABLES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


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


@pytest.fixture(scope="session")
def mail_servers() -> Iterator[Any]:
    """Dovecot (IMAP + LMTP + Sieve) and an SMTP front with AUTH on loopback, for the session.

    Skipped without Dovecot, or failed under CI=true (`.ci/run` installs it)."""
    from tests.support.mail import find_dovecot, start_servers

    binary, why = find_dovecot()
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why)
        pytest.skip(why)
    yield from start_servers(junk_percent=30)
