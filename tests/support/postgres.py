"""A throwaway PostgreSQL server, for the tests (`pg_server` fixture) and the benchmarks.

The server runs from the distribution's binaries (/usr/lib/postgresql/*/bin) on a throwaway data
directory and a free port on 127.0.0.1; as root, initdb and pg_ctl run as the `postgres` user,
because they refuse to run as root.
"""

from __future__ import annotations

import glob
import shlex
import socket
import subprocess
from pathlib import Path

__all__ = ["PgServer", "_find_bindir", "_free_port"]


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
