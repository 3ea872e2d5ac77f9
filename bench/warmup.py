"""The warmup job's throughput and CPU, one real worker process against the local mail servers
(Dovecot + the aiosmtpd front of the tests) on PostgreSQL.

Busy phase: `BENCH_WARMUP_MAILBOXES` (default 40) mailboxes, each with `BENCH_WARMUP_QUOTA` (5)
messages due at once (the job's clock is held at 23:59), reply rate 0.3: from the moment the worker
owns them until every message is sent, received, engaged and every reply engaged too. Reported:
messages sent per second and messages processed (received and engaged) per second, and the worker
process's CPU (utime + stime from /proc) per message. Idle phase: then `BENCH_WARMUP_IDLE_S` (10)
seconds of cycles with nothing to send or read, for the CPU of one idle cycle (an SMTP-less IMAP
session: login, LIST, 3 searches). The worker's CPU per 1,000 mailboxes at their daily quota
follows: 1,000 x (40 + replies) messages and 1,000 x 288 cycles (one per 300 s) a day.

Baseline, side by side in the same round: the same number of messages sent with bare smtplib (one
session per mailbox, 10 threads) and read with bare imaplib (SEARCH, FETCH headers, STORE \\Seen),
with no database: the floor the mail servers set. `BENCH_WARMUP_ROUNDS` (3) rounds, medians.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from tests.support.mail import find_dovecot, start_servers
from tests.support.warmup_pool import make_pool

from bench.pg import throwaway_postgres
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.warmup.compose import compose

__all__ = ["run"]

CYCLES_PER_DAY = 86_400 / 300  # the default AUTO_SCALER_WORKER_CYCLE_INTERVAL_MS
TARGET_PER_DAY = 40  # the default target volume
CLOCK_JOB = """
from datetime import UTC, datetime
from warmup_autoscaler.worker.jobs import job_factory
from warmup_autoscaler.warmup.job import warmup_job

_NOW = datetime.now(UTC).replace(hour=23, minute=59)

@job_factory
def run(context):
    return warmup_job(context, clock=lambda: _NOW)
"""


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _count(db: Database, sql: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def _new_database(url: str, name: str) -> str:
    admin = make_url(url).set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _ours(
    url: str, servers: Any, size: int, quota: int, idle_s: float, tmp: Path
) -> dict[str, float]:
    db = Database(url)
    pool = make_pool(db, servers, size=size, start_volume=str(quota), target_volume=str(quota),
                     reply_rate="0.3")  # fmt: skip
    (tmp / "clockjob.py").write_text(CLOCK_JOB)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTO_SCALER_")}
    env.update(
        DATABASE_URL=url, PYTHONPATH=os.pathsep.join([str(tmp), *sys.path]),
        AUTO_SCALER_SECRET_KEY=pool.key, AUTO_SCALER_WORKER_JOB="clockjob:run",
        AUTO_SCALER_WORKER_CYCLE_INTERVAL_MS="200", AUTO_SCALER_WORKER_CONCURRENCY="10",
        AUTO_SCALER_WORKER_HEARTBEAT_MS="1000", AUTO_SCALER_LOG_FORMAT="json",
        AUTO_SCALER_LOG_LEVEL="warning",
    )  # fmt: skip
    with (tmp / "worker.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "warmup_autoscaler.worker"], env=env,
                                cwd=tmp, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while (
            _count(db, "SELECT count(*) FROM autoscaler_leases WHERE worker_id IS NOT NULL") < size
        ):
            assert time.monotonic() < deadline and proc.poll() is None, "the worker did not start"
            time.sleep(0.02)
        t0, cpu0 = time.monotonic(), _cpu_s(proc.pid)
        total = size * quota
        while True:
            sent = _count(db, "SELECT count(*) FROM warmup_sends WHERE status = 'sent'")
            new = _count(
                db, "SELECT count(*) FROM warmup_sends WHERE kind = 'new' AND status = 'sent'"
            )
            read = _count(db, "SELECT count(*) FROM warmup_events WHERE kind = 'read'")
            if new == total and read == sent:
                break
            assert time.monotonic() - t0 < 600 and proc.poll() is None, "the busy phase stalled"
            time.sleep(0.02)
        busy_s, busy_cpu = time.monotonic() - t0, _cpu_s(proc.pid) - cpu0
        cycles0 = _count(db, "SELECT count(*) FROM warmup_cycles")
        cpu1 = _cpu_s(proc.pid)
        time.sleep(idle_s)
        idle_cycles = _count(db, "SELECT count(*) FROM warmup_cycles") - cycles0
        idle_cpu = _cpu_s(proc.pid) - cpu1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        db.dispose()
    return {"messages": sent, "busy_s": busy_s, "busy_cpu_s": busy_cpu,
            "idle_cycles": idle_cycles, "idle_cpu_s": idle_cpu}  # fmt: skip


def _baseline(servers: Any, size: int, quota: int, messages: int) -> float:
    """Seconds for bare smtplib + imaplib to send and read `messages` among `size` new users."""
    import imaplib
    import smtplib

    tag = uuid.uuid4().hex[:8]
    users = [(f"base{i}@{'a' if i % 2 else 'b'}-{tag}.test", f"pw-{tag}-{i}") for i in range(size)]
    servers.dovecot.add_users(users)
    per = [messages // size + (1 if i < messages % size else 0) for i in range(size)]
    now = datetime.now(UTC)

    def send(i: int) -> None:
        user, password = users[i]
        with smtplib.SMTP("127.0.0.1", servers.smtp_port) as smtp:
            smtp.login(user, password)
            for n in range(per[i]):
                to = users[(i + 1 + n) % size][0]
                draft = compose(key=f"{tag}:{i}:{n}", sender=user, recipient=to, when=now)
                smtp.send_message(draft.message, from_addr=user, to_addrs=[to])

    def read(i: int) -> None:
        user, password = users[i]
        imap = imaplib.IMAP4("127.0.0.1", servers.imap_port)
        imap.login(user, password)
        for folder in ("Junk", "INBOX"):
            imap.select(folder)
            _, data = imap.uid("SEARCH", "UNSEEN", "HEADER", "X-Warmup-Id", '""')
            uids = data[0].decode().split()
            if uids:
                imap.uid(
                    "FETCH", ",".join(uids), "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
                )
                imap.uid("STORE", ",".join(uids), "+FLAGS.SILENT", "(\\Seen)")
        imap.logout()

    started = time.monotonic()
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(send, range(size)))
        list(pool.map(read, range(size)))
    return time.monotonic() - started


def run(quick: bool = False) -> dict[str, float]:
    if find_dovecot()[0] is None:
        print(f"skipped: {find_dovecot()[1]}")
        return {}
    size = int(os.environ.get("BENCH_WARMUP_MAILBOXES", 12 if quick else 40))
    quota = int(os.environ.get("BENCH_WARMUP_QUOTA", 3 if quick else 5))
    idle_s = float(os.environ.get("BENCH_WARMUP_IDLE_S", 3 if quick else 10))
    rounds = int(os.environ.get("BENCH_WARMUP_ROUNDS", 1 if quick else 3))
    found: dict[str, list[float]] = {}
    with throwaway_postgres("warmup_bench") as url, tempfile.TemporaryDirectory() as tmp:
        if url is None:
            return {}
        servers_iter = start_servers(junk_percent=30)
        servers = next(servers_iter)
        try:
            for n in range(rounds):
                ours = _ours(
                    _new_database(url, f"round{n}"), servers, size, quota, idle_s, Path(tmp)
                )
                base_s = _baseline(servers, size, quota, int(ours["messages"]))
                per_msg = ours["busy_cpu_s"] / ours["messages"]
                per_cycle = ours["idle_cpu_s"] / max(ours["idle_cycles"], 1)
                day_cpu = 1000 * (TARGET_PER_DAY * 1.3 * per_msg + CYCLES_PER_DAY * per_cycle)
                values = {
                    "sent_per_s": ours["messages"] / ours["busy_s"],
                    "base_per_s": ours["messages"] / base_s,
                    "cpu_ms_per_message": per_msg * 1000,
                    "cpu_ms_per_idle_cycle": per_cycle * 1000,
                    "cores_per_1000": day_cpu / 86_400,
                }
                print(json.dumps({"round": n, **ours, **values}), flush=True)
                for k, v in values.items():
                    found.setdefault(k, []).append(v)
        finally:
            servers_iter.close()
    result = {k: statistics.median(v) for k, v in found.items()}
    print(
        f"one worker: {result['sent_per_s']:.1f} messages/s sent and processed end to end "
        f"(bare smtplib + imaplib: {result['base_per_s']:.1f}/s); CPU {result['cpu_ms_per_message']:.1f} "
        f"ms a message, {result['cpu_ms_per_idle_cycle']:.1f} ms an idle cycle; 1,000 mailboxes at "
        f"{TARGET_PER_DAY}/day: {result['cores_per_1000']:.3f} of a core on average"
    )
    return result
