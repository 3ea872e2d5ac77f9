"""Safety stops against the real servers: a wrong password pauses the mailbox after the
configured failures (with backoff between them, reason stored, alert fired); a server that
answers 550 to every recipient trips the bounce stop. Nothing ever holds a plaintext password."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.support.logs import capture_events
from tests.support.mail import MailServers, SmtpFront
from tests.support.warmup_pool import make_pool
from warmup_autoscaler.alerts import AlertConfig, AlertEngine, AlertStatus
from warmup_autoscaler.policy import PolicyConfig
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.warmup.store import AccountStore

LATE = datetime.now(UTC).replace(hour=23, minute=59)


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Database]:
    database = Database(sqlite_url)
    yield database
    database.dispose()


def test_wrong_password_pauses_after_the_limit_and_alerts(db: Database, mail_servers: MailServers):
    """Three refused logins in a row (limit 3): backoff after the first two, then paused with
    the reason in the database and the log, and the daemon's alert fires with it."""
    pool = make_pool(db, mail_servers, size=3, bad_password={1})
    job = pool.job(lambda: LATE, warmup_auth_failure_limit=3, warmup_retry_backoff_ms=60_000)
    pool.lease_all()
    outcomes = []
    with capture_events() as events:
        for _ in range(3):
            outcomes.append(pool.run(job, 1))
            retry_at = pool.scalar("SELECT retry_at FROM warmup_accounts WHERE mailbox_id = 1")
            if pool.scalar("SELECT paused_reason FROM warmup_accounts WHERE mailbox_id = 1"):
                break
            assert retry_at > pool.scalar("SELECT max(finished_at) FROM warmup_cycles")
            backoff = pool.run(job, 1)  # the next cycle, inside the backoff, does not retry
            assert pool.rows("SELECT outcome FROM warmup_cycles ORDER BY id DESC LIMIT 1") == [
                ("backoff",)
            ]
            assert backoff.recorded
            with db.begin_write() as conn:
                from sqlalchemy import text

                conn.execute(text("UPDATE warmup_accounts SET retry_at = 0"))
    outcome_rows = pool.rows("SELECT outcome FROM warmup_cycles WHERE outcome != 'backoff'")
    assert outcome_rows == [("auth-failed",)] * 3
    reason = pool.scalar("SELECT paused_reason FROM warmup_accounts WHERE mailbox_id = 1")
    assert reason.startswith(
        "safety stop: login refused 3 times in a row (limit AUTO_SCALER_WARMUP_AUTH_FAILURE_LIMIT=3); "
        f"last: SMTP 127.0.0.1:{mail_servers.smtp_port} refused the login of {pool.emails[1]}: 535"
    ), reason
    assert pool.scalar("SELECT paused_by FROM warmup_accounts WHERE mailbox_id = 1") == "safety"
    paused_logs = [e for e in events if e["event"] == "mailbox_paused"]
    assert [(e["mailbox"], e["reason"]) for e in paused_logs] == [(1, reason)]
    assert pool.scalar("SELECT count(*) FROM warmup_sends WHERE mailbox_id = 1") == 0
    # The next cycle of a paused mailbox does nothing.
    pool.run(job, 1)
    assert pool.rows("SELECT outcome, detail FROM warmup_cycles ORDER BY id DESC LIMIT 1") == [
        ("paused", reason)
    ]
    engine = AlertEngine(AlertConfig(), policy=PolicyConfig())
    fired = engine.evaluate_paused_mailboxes(AccountStore(db).safety_paused(), LATE)
    assert [(e.name, e.status) for e in fired] == [("mailboxes_paused", AlertStatus.FIRED)]
    assert fired[0].message == (
        f"1 warmup mailbox paused by a safety stop: {pool.emails[1]} (id 1): {reason}; "
        "fix the cause, then `warmup-autoscaler mailbox resume ID`"
    )
    AccountStore(db).set_paused(1, None)
    cleared = engine.evaluate_paused_mailboxes(AccountStore(db).safety_paused(), LATE)
    assert [(e.name, e.status) for e in cleared] == [("mailboxes_paused", AlertStatus.RESOLVED)]
    for e in events:
        assert "wrong-password" not in str(e) and pool.passwords[1] not in str(e)


def test_a_server_rejecting_every_recipient_trips_the_bounce_stop(
    db: Database, mail_servers: MailServers
):
    """Every RCPT answered 550: each slot is recorded bounced, and past the minimum number of
    sends the bounce rate (100%) pauses the mailbox with the reason."""
    front = SmtpFront(mail_servers.dovecot, reject_all=True).start()
    try:
        pool = make_pool(db, mail_servers, size=4, smtp_port=front.port, start_volume="6",
                         target_volume="6")  # fmt: skip
        job = pool.job(lambda: LATE, warmup_bounce_min_sends=5, warmup_bounce_rate_limit=0.1)
        pool.lease_all()
        pool.run(job, 1)
    finally:
        front.stop()
    statuses = pool.rows("SELECT status, error FROM warmup_sends WHERE mailbox_id = 1")
    assert [s for s, _ in statuses] == ["bounced"] * 6
    assert statuses[0][1] == (
        f"SMTP 127.0.0.1:{front.port} refused the recipient: 550 5.1.1 Mailbox unavailable"
    )
    assert pool.scalar("SELECT paused_reason FROM warmup_accounts WHERE mailbox_id = 1") == (
        "safety stop: bounce rate 100% (6 of 6 messages in 24 h) above the limit "
        "AUTO_SCALER_WARMUP_BOUNCE_RATE_LIMIT=0.1"
    )


def test_passwords_are_never_stored_in_plaintext(db: Database, mail_servers: MailServers):
    """No column of any warmup table holds a password; the stored tokens decrypt to them."""
    pool = make_pool(db, mail_servers, size=3)
    dump = " ".join(
        str(row)
        for table in ("warmup_accounts", "warmup_sends", "warmup_events")
        for row in pool.rows(f"SELECT * FROM {table}")
    )
    for password in pool.passwords.values():
        assert password not in dump
    token = pool.scalar("SELECT smtp_password FROM warmup_accounts WHERE mailbox_id = 2")
    assert pool.box.decrypt(token) == pool.passwords[2]
