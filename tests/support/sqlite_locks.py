"""Whether a process holds a SQLite database's write lock, read from Linux's /proc/locks.

In WAL mode SQLite's one write lock is an fcntl lock on byte 120 of the `-shm` file (the first
of its WAL locks), held from `BEGIN IMMEDIATE` (or a transaction's first write) to its end. A
process stopped while holding it keeps every other writer out until it resumes.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["holds_write_lock"]

WAL_WRITE_LOCK_BYTE = 120


def holds_write_lock(pid: int, database: Path) -> bool:
    """Whether `pid` holds the WAL write lock of the SQLite file `database`."""
    shm = Path(f"{database}-shm")
    if not shm.exists():
        return False
    inode = os.stat(shm).st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 1 and fields[1] == "->":  # a blocked waiter, listed under the holder
            fields = fields[:1] + fields[2:]
        if len(fields) < 8 or fields[1] != "POSIX" or fields[3] != "WRITE":
            continue
        held_by, file_id, start = int(fields[4]), fields[5], int(fields[6])
        if (held_by, int(file_id.split(":")[-1]), start) == (pid, inode, WAL_WRITE_LOCK_BYTE):
            return True
    return False
