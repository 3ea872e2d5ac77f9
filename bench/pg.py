"""A throwaway PostgreSQL server for the benchmarks (the same one the tests start)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from tests.support.postgres import PgServer, _find_bindir

__all__ = ["throwaway_postgres"]


@contextmanager
def throwaway_postgres(dbname: str = "bench", *, settings: str = "") -> Iterator[str | None]:
    """Yield a postgresql+psycopg URL of a new database on a new server, or None without binaries.
    `settings` are lines appended to the server's postgresql.conf before it starts."""
    bindir, why = _find_bindir()
    if bindir is None:
        print(f"skipped: {why}")
        yield None
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        as_postgres = os.geteuid() == 0
        if as_postgres:
            shutil.chown(root, "postgres")
        server = PgServer(bindir, root, as_postgres=as_postgres)
        server.init()
        if settings:
            with (root / "data" / "postgresql.conf").open("a") as conf:
                conf.write(f"\n{settings}\n")
        server.start()
        try:
            with psycopg.connect(server.admin_url.replace("+psycopg", ""), autocommit=True) as c:
                c.execute(f"CREATE DATABASE {dbname}")
            yield server.url(dbname)
        finally:
            server.stop()
