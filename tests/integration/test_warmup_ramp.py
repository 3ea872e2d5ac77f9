"""Ten simulated days with real worker processes: daily sends follow the ramp and the window,
and each day's quota is kept exactly while mailboxes change owner mid-day (a drain, a SIGKILL,
a worker frozen past its lease TTL). The job's clock runs 8,640 times faster than the wall clock
(one day in 10 s) through a `@job_factory` module, the public way to give the job a clock."""

from __future__ import annotations

import json
import signal
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.integration.test_worker_process import Workers, poll
from tests.support.mail import MailServers, mailbox_messages
from tests.support.warmup_pool import make_pool
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.warmup.plan import Ramp, day_plan, quota_for

DAY_S = 10.0  # real seconds per simulated day
GRACE_S = 4.0  # AUTO_SCALER_WARMUP_RESEND_GRACE_MS, in seconds
DAYS = 10
START = datetime(2026, 1, 5, tzinfo=UTC)  # day 0, 00:00 in the mailboxes' zone (UTC)
SIM_JOB = """
import json, pathlib, time
from datetime import datetime, timedelta
from warmup_autoscaler.worker.jobs import job_factory
from warmup_autoscaler.warmup.job import warmup_job

_SIM = json.loads((pathlib.Path(__file__).parent / "sim.json").read_text())
_START = datetime.fromisoformat(_SIM["start"])

def clock():
    return _START + timedelta(days=(time.time() - _SIM["t0"]) / _SIM["day_s"])

@job_factory
def run(context):
    return warmup_job(context, clock=clock)
"""


def sim_at(t0: float, real_s: float) -> datetime:
    return START + timedelta(days=(real_s - t0) / DAY_S)


def real_at(t0: float, day: int, hour: float) -> float:
    return t0 + (day + hour / 24) * DAY_S


def sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.time()))


def test_ten_days_of_ramp_with_owner_changes(
    postgres_url: str, mail_servers: MailServers, tmp_path: Path
):
    """Every mailbox sends exactly quota(day) each day, each slot once and never before it is
    due, within the window; every message reaches exactly one folder of its recipient; the
    owner changes (drain on day 2, SIGKILL on day 4, freeze on day 6) move mailboxes mid-day."""
    db = Database(postgres_url)
    try:
        _run_ten_days(db, postgres_url, mail_servers, tmp_path)
    finally:
        db.dispose()


def _run_ten_days(
    db: Database, postgres_url: str, mail_servers: MailServers, tmp_path: Path
) -> None:
    pool = make_pool(db, mail_servers, size=6, start_volume="2", ramp_per_day="1",
                     target_volume="8", window_start="8", window_end="16",
                     started_on=START.date())  # fmt: skip
    t0 = time.time() + 4.0
    (tmp_path / "sim.json").write_text(
        json.dumps({"start": START.isoformat(), "t0": t0, "day_s": DAY_S})
    )
    (tmp_path / "simjob.py").write_text(SIM_JOB)
    fleet = Workers(db, postgres_url, tmp_path)
    job = {"worker_job": "simjob:run", "secret_key": pool.key, "worker_cycle_interval_ms": "300",
           "worker_concurrency": "6", "warmup_keep_hours": "24",
           "warmup_resend_grace_ms": str(int(GRACE_S * 1000))}  # fmt: skip
    try:
        procs = {name: fleet.start(name, **job) for name in ("a", "b")}
        for name in procs:
            fleet.worker_id(name)
        poll(lambda: len([w for w in fleet.owners().values() if w]) == 6, 15, "all 6 owned")
        sleep_until(real_at(t0, 2, 12))
        procs["a"].send_signal(signal.SIGTERM)
        assert procs["a"].wait(timeout=20) == 0
        procs["c"] = fleet.start("c", **job)
        sleep_until(real_at(t0, 4, 12))
        procs["b"].kill()
        procs["b"].wait(timeout=10)
        procs["d"] = fleet.start("d", **job)
        sleep_until(real_at(t0, 6, 12))
        procs["c"].send_signal(signal.SIGSTOP)
        time.sleep(3.0)  # past the 2 s lease TTL, within the 4 s resend grace
        procs["c"].send_signal(signal.SIGCONT)
        sleep_until(real_at(t0, DAYS, 0.5))
        for name in ("c", "d"):
            procs[name].send_signal(signal.SIGTERM)
        for name in ("c", "d"):
            assert procs[name].wait(timeout=30) == 0
    finally:
        fleet.stop_all()
    rows = pool.rows(
        "SELECT mailbox_id, day, slot, status, worker_id, claimed_at, message_id, recipient_id "
        "FROM warmup_sends WHERE kind = 'new' ORDER BY mailbox_id, day, slot"
    )
    ramp = Ramp(start_volume=2, target_volume=8, ramp_per_day=1, window_start_hour=8,
                window_end_hour=16, timezone="UTC", started_on=START.date())  # fmt: skip
    by_day: dict[tuple[int, str], list[int]] = defaultdict(list)
    owners: dict[tuple[int, str], set[str]] = defaultdict(set)
    late: list[tuple[float, int, str, int, str]] = []
    for mailbox, day, slot, status, worker, claimed_at, _, _ in rows:
        assert status == "sent", (mailbox, day, slot, status)
        by_day[(mailbox, day)].append(slot)
        owners[(mailbox, day)].add(worker)
        plan = day_plan(ramp, datetime.fromisoformat(day).replace(tzinfo=UTC), seed=mailbox)
        sent_at = sim_at(t0, claimed_at / 1000)
        assert sent_at >= plan.slot_times[slot], "a slot was sent before it was due"
        lag_s = (sent_at - plan.slot_times[slot]).total_seconds() / 86_400 * DAY_S
        late.append((lag_s, mailbox, day, slot, worker))
        assert plan.slot_times[slot].hour in range(8, 16)
    late.sort()
    print(
        f"sends after their due time, in real seconds: median {late[len(late) // 2][0]:.2f}, "
        f"max {late[-1][0]:.2f} (the window closes 8 h = {DAY_S / 3:.1f} s before midnight)"
    )
    for m in pool.emails:
        for n in range(DAYS):
            day = (START.date() + timedelta(days=n)).isoformat()
            assert sorted(by_day[(m, day)]) == list(
                range(quota_for(ramp, START.date() + timedelta(days=n)))
            ), (m, day)
    for n in (2, 4, 6):
        day = (START.date() + timedelta(days=n)).isoformat()
        if not any(len(owners[(m, day)]) >= 2 for m in pool.emails):
            names = {fleet.events(w, "worker_starting")[0]["id"]: w for w in ("a", "b", "c", "d")}
            that_day = [(r[0], r[2], names.get(r[4]), sim_at(t0, r[5] / 1000).strftime("%H:%M"))
                        for r in rows if r[1] == day]  # fmt: skip
            raise AssertionError(f"no owner change on day {n}: {that_day}")
    seen: dict[str, int] = defaultdict(int)
    for m, email in pool.emails.items():
        for folder in ("INBOX", "Junk", "Warmup"):
            for msg in mailbox_messages(pool.servers.imap_port, email, pool.passwords[m], folder):
                seen[str(msg["Message-ID"])] += 1
    sent_ids = [r[6] for r in rows]
    assert (
        len(sent_ids)
        == sum(quota_for(ramp, START.date() + timedelta(days=n)) for n in range(DAYS)) * 6
    )
    wrong = [(i, seen[i]) for i in sent_ids if seen[i] != 1]
    names = {fleet.events(n, "worker_starting")[0]["id"]: n for n in ("a", "b", "c", "d")}
    detail = [(r[0], r[1], r[2], names.get(r[4]), r[5]) for r in rows if r[6] in dict(wrong)]
    assert wrong == [], f"delivered twice or lost: {wrong} {detail}"
