"""End to end: the real daemon scales real `warmup` workers over 12 mailboxes in two domains on
real Dovecot + an SMTP front with AUTH (a Sieve rule files ~30% of pool mail into Junk). The test
then reads every mailbox over IMAP itself and checks the job's work and its figures."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import httpx
from sqlalchemy import text

from tests.e2e.conftest import cli, wait_until
from tests.support.mail import MailServers, mailbox_messages
from tests.support.warmup_pool import make_pool
from warmup_autoscaler.store.database import Database


def noon_zone() -> str:
    """An Etc/GMT zone where it is now between 12:00 and 13:00, so a 00:00-13:00 window has
    every slot of today due (and no midnight falls within the test)."""
    offset = 12 - datetime.now(UTC).hour  # hours east of UTC
    if offset == 0:
        return "Etc/GMT"
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"  # the Etc sign is inverted


def test_daemon_scales_warmup_workers_that_really_warm_the_pool(
    tmp_path, base_env, daemon_factory, postgres_url, mail_servers: MailServers
):
    """12 mailboxes, 6 per worker: the daemon runs 2-3 warmup workers; every mailbox sends its
    quota of 3; over IMAP the test finds each message once, no pool mail left in Junk (the junked
    ones were moved to the inbox), replies threaded; the API's figures match what it counted."""
    db = Database(postgres_url)
    pool = make_pool(db, mail_servers, size=12, start_volume="3", target_volume="3",
                     window_start="0", window_end="13", timezone=noon_zone(), reply_rate="0.4")  # fmt: skip
    env = dict(base_env, DATABASE_URL=postgres_url, AUTO_SCALER_SECRET_KEY=pool.key)
    env.pop("AUTO_SCALER_LOCAL_WORKER_COMMAND")
    env.update(
        AUTO_SCALER_WORKER_JOB="warmup",
        AUTO_SCALER_MAILBOXES_PER_WORKER="6",
        AUTO_SCALER_MAX_WORKERS="3",
        AUTO_SCALER_CHECK_INTERVAL_MS="500",
        AUTO_SCALER_SCALE_UP_COOLDOWN_MS="0",
        AUTO_SCALER_SCALE_DOWN_COOLDOWN_MS="0",
        AUTO_SCALER_WORKER_HEARTBEAT_MS="300",
        AUTO_SCALER_WORKER_LEASE_TTL_MS="2000",
        AUTO_SCALER_WORKER_CYCLE_INTERVAL_MS="1000",
        AUTO_SCALER_WORKER_DRAIN_TIMEOUT_MS="10000",
        AUTO_SCALER_LOCAL_STOP_GRACE_MS="20000",
    )
    assert cli(tmp_path, env, "db", "init").returncode == 0
    daemon = daemon_factory(env).start()

    def scalar(sql: str) -> int:
        with db.engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())

    def settled() -> bool:
        sent = scalar("SELECT count(*) FROM warmup_sends WHERE status = 'sent'")
        received = scalar("SELECT count(*) FROM warmup_events WHERE kind = 'received'")
        read = scalar("SELECT count(*) FROM warmup_events WHERE kind = 'read'")
        new = scalar("SELECT count(*) FROM warmup_sends WHERE kind = 'new' AND status = 'sent'")
        # `read` is recorded last, after any reply to the message has been sent.
        return new == 36 and received == sent == read

    try:
        wait_until(lambda: (daemon.status()["fleet"] or {}).get("live", 0) >= 2, 60, "2+ workers")
        wait_until(settled, 120, "every message sent and engaged")
        figures = httpx.get(f"{daemon.url}/api/warmup/mailboxes", timeout=10).json()
        one = httpx.get(f"{daemon.url}/api/warmup/mailboxes/1", timeout=10).json()
        metrics = httpx.get(f"{daemon.url}/metrics", timeout=10).text
    finally:
        assert daemon.stop() == 0
    workers = {r[0] for r in pool.rows("SELECT DISTINCT worker_id FROM warmup_sends")}
    assert len(workers) >= 2, "the mailboxes were warmed by several workers"

    found: Counter[str] = Counter()
    replies_checked = 0
    reply_rows = {r[0]: r[1] for r in pool.rows(
        "SELECT message_id, in_reply_to FROM warmup_sends WHERE kind = 'reply'")}  # fmt: skip
    for m, email in pool.emails.items():
        junk = mailbox_messages(pool.servers.imap_port, email, pool.passwords[m], "Junk")
        assert [j["Message-ID"] for j in junk if j["X-Warmup-Id"]] == [], (
            f"pool mail left in {email}'s Junk"
        )
        for msg in mailbox_messages(pool.servers.imap_port, email, pool.passwords[m], "INBOX"):
            if not msg["X-Warmup-Id"]:
                continue
            found[str(msg["Message-ID"])] += 1
            assert "X-Spam-Flag" not in msg or msg["Message-ID"] in _spam_ids(pool)
            if str(msg["Message-ID"]) in reply_rows:
                parent = reply_rows[str(msg["Message-ID"])]
                assert msg["In-Reply-To"] == parent
                assert str(msg["References"]).split()[-1] == parent
                assert str(msg["Subject"]).startswith("Re: ")
                replies_checked += 1
    sent_ids = [
        r[0] for r in pool.rows("SELECT message_id FROM warmup_sends WHERE status = 'sent'")
    ]
    assert sorted(found) == sorted(sent_ids) and set(found.values()) == {1}
    assert replies_checked == len(reply_rows) > 0
    spam = _spam_ids(pool)
    assert spam, "the Sieve rule filed some pool mail into Junk"
    rescued = {
        r[0] for r in pool.rows("SELECT message_id FROM warmup_events WHERE kind = 'rescued'")
    }
    assert rescued == spam and spam <= set(found)

    p = figures["pool"]
    assert p["sent"] == len(found)
    assert p["spam"] == p["rescued"] == len(spam)
    assert p["inbox"] == len(found) - len(spam)
    assert p["bounced"] == 0 and p["mailboxes"] == 12 and p["paused"] == 0
    assert p["inboxRate"] == round(p["inbox"] / len(found), 4)
    assert sum(m["figures"]["sent"] for m in figures["mailboxes"]) == p["sent"]
    assert one["figures"] == next(m["figures"] for m in figures["mailboxes"] if m["mailboxId"] == 1)
    assert f'warmup_autoscaler_warmup_messages{{outcome="sent"}} {float(p["sent"])}' in metrics
    exposed = json.dumps(figures) + json.dumps(one) + metrics + daemon.log.read_text()
    exposed += "".join(p.read_text() for p in (tmp_path / "logs").glob("worker-*.log"))
    assert [p for p in pool.passwords.values() if p in exposed] == []
    assert "password" not in json.dumps(figures).lower()
    db.dispose()


def _spam_ids(pool) -> set[str]:
    return {r[0] for r in pool.rows(
        "SELECT message_id FROM warmup_events WHERE kind = 'received' AND folder = 'spam'")}  # fmt: skip


def test_a_safety_stop_shows_in_the_status_and_fires_an_alert(
    tmp_path, base_env, daemon_factory, sqlite_url, mail_servers: MailServers
):
    """A mailbox with a wrong password is paused by its worker after 2 refused logins; the
    daemon's status then lists the `mailboxes_paused` alert with the reason, and the log has
    the alert; the others go on sending."""
    db = Database(sqlite_url)
    pool = make_pool(db, mail_servers, size=3, bad_password={2}, window_start="0",
                     window_end="13", timezone=noon_zone())  # fmt: skip
    env = dict(base_env, DATABASE_URL=sqlite_url, AUTO_SCALER_SECRET_KEY=pool.key)
    env.pop("AUTO_SCALER_LOCAL_WORKER_COMMAND")
    env.update(
        AUTO_SCALER_WORKER_JOB="warmup",
        AUTO_SCALER_CHECK_INTERVAL_MS="500",
        AUTO_SCALER_WORKER_HEARTBEAT_MS="300",
        AUTO_SCALER_WORKER_LEASE_TTL_MS="2000",
        AUTO_SCALER_WORKER_CYCLE_INTERVAL_MS="500",
        AUTO_SCALER_WARMUP_AUTH_FAILURE_LIMIT="2",
        AUTO_SCALER_WARMUP_RETRY_BACKOFF_MS="200",
    )
    assert cli(tmp_path, env, "db", "init").returncode == 0
    daemon = daemon_factory(env).start()
    try:
        alert = wait_until(
            lambda: next(
                (a for a in daemon.status()["alerts"] if a["name"] == "mailboxes_paused"), None
            ),
            60,
            "the mailboxes_paused alert in the status",
        )
        mailboxes = httpx.get(f"{daemon.url}/api/warmup/mailboxes", timeout=10).json()["mailboxes"]
    finally:
        assert daemon.stop() == 0
    reason = pool.rows("SELECT paused_reason FROM warmup_accounts WHERE mailbox_id = 2")[0][0]
    assert reason.startswith("safety stop: login refused 2 times in a row")
    assert alert["severity"] == "warning"
    assert alert["details"]["mailboxes"] == [
        {"mailboxId": 2, "email": pool.emails[2], "reason": reason,
         "pausedAtMs": alert["details"]["mailboxes"][0]["pausedAtMs"]}
    ]  # fmt: skip
    assert [(m["mailboxId"], m["paused"], m["pausedBy"]) for m in mailboxes] == [
        (1, False, None), (2, True, "safety"), (3, False, None)]  # fmt: skip
    fired = [line for line in daemon.log_lines() if line.get("event") == "alert"
             and line.get("alert") == "mailboxes_paused"]  # fmt: skip
    assert fired and reason in fired[0]["message"]
    logs = daemon.log.read_text() + "".join(
        p.read_text() for p in (tmp_path / "logs").glob("worker-*.log")
    )
    assert "mailbox_paused" in logs and "wrong-password" not in logs
    assert [p for p in pool.passwords.values() if p in logs] == []
    db.dispose()
