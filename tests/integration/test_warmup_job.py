"""The real `warmup` job, in process, against real Dovecot + SMTP front and a real database:
sends follow the plan, pool mail is engaged, and every write is fenced by the lease."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.mail import MailServers, mailbox_messages
from tests.support.warmup_pool import Pool, make_pool
from warmup_autoscaler.store.database import Database


@pytest.fixture
def pool(database_url: str, mail_servers: MailServers) -> Iterator[Pool]:
    db = Database(database_url)
    try:
        yield make_pool(db, mail_servers, size=12, start_volume="3", ramp_per_day="1",
                        target_volume="6", reply_rate="0.5")  # fmt: skip
    finally:
        db.dispose()


def test_a_day_of_cycles_sends_the_quota_and_engages(pool: Pool) -> None:
    """At the end of the window every mailbox has sent exactly its quota to others of the pool;
    once replies settle every message was received, junked ones rescued, some replied."""
    today = datetime.now(UTC).replace(hour=23, minute=59)
    job = pool.job(lambda: today)
    pool.lease_all()
    for _ in range(6):  # replies go on for at most 4 messages a thread, then all is engaged
        before = pool.scalar("SELECT count(*) FROM warmup_sends")
        for m in pool.emails:
            cycle = pool.run(job, m)
            assert cycle.recorded, cycle
        if pool.scalar("SELECT count(*) FROM warmup_sends") == before:
            break
    sent = dict(pool.rows(
        "SELECT mailbox_id, count(*) FROM warmup_sends WHERE kind = 'new' AND status = 'sent' "
        "GROUP BY mailbox_id"))  # fmt: skip
    assert sent == {m: 3 for m in pool.emails}
    assert pool.scalar("SELECT count(*) FROM warmup_sends WHERE recipient_id = mailbox_id") == 0
    received = pool.scalar("SELECT count(*) FROM warmup_events WHERE kind = 'received'")
    new = pool.scalar("SELECT count(*) FROM warmup_sends WHERE kind = 'new'")
    assert received >= new
    spam = pool.scalar(
        "SELECT count(*) FROM warmup_events WHERE kind = 'received' AND folder = 'spam'"
    )
    rescued = pool.scalar("SELECT count(*) FROM warmup_events WHERE kind = 'rescued'")
    assert spam == rescued > 0
    for m, email in pool.emails.items():
        junk = mailbox_messages(pool.servers.imap_port, email, pool.passwords[m], "Junk")
        assert [j for j in junk if j["X-Warmup-Id"]] == []
    replies = pool.rows("SELECT message_id, in_reply_to FROM warmup_sends WHERE kind = 'reply'")
    assert replies
    m = 1
    inbox = mailbox_messages(pool.servers.imap_port, pool.emails[m], pool.passwords[m], "INBOX")
    assert inbox and all(msg["X-Warmup-Id"] for msg in inbox)


def test_a_lost_lease_writes_nothing(pool: Pool) -> None:
    """With its lease taken by another worker, a cycle claims no send and records nothing."""
    late = datetime.now(UTC).replace(hour=23, minute=59)
    job = pool.job(lambda: late)
    pool.lease_all()
    pool.lease_all(worker_id="someone-else")
    cycle = pool.run(job, 1)
    assert cycle.fenced
    assert pool.scalar("SELECT count(*) FROM warmup_sends") == 0
    assert pool.scalar("SELECT count(*) FROM warmup_events") == 0


def test_nothing_is_sent_before_the_window_opens(pool: Pool) -> None:
    """At 00:30 with a window from 08:00, nothing is due and nothing is sent."""
    with pool.db.begin_write() as conn:
        from sqlalchemy import text

        conn.execute(text("UPDATE warmup_accounts SET window_start_hour = 8"))
    early = datetime.now(UTC).replace(hour=0, minute=30)
    job = pool.job(lambda: early - timedelta(0))
    pool.lease_all()
    pool.run(job, 1)
    assert pool.scalar("SELECT count(*) FROM warmup_sends") == 0


@pytest.mark.parametrize("delivered", [True, False], ids=["landed", "lost"])
def test_a_send_left_unfinished_by_a_lost_owner_is_found_or_resent_once(
    pool: Pool, delivered: bool
) -> None:
    """A slot an earlier owner claimed but never finished: past the resend grace, the new owner
    finds it at the recipient (landed: recorded as sent, not resent) or sends the same message
    again (lost); either way the recipient holds exactly one copy."""
    import smtplib

    from sqlalchemy import text

    from warmup_autoscaler.store.database import now_ms_sql
    from warmup_autoscaler.warmup.compose import compose

    dialect = pool.db.dialect_name
    late = datetime.now(UTC).replace(hour=23, minute=59)
    day = late.date().isoformat()
    key = f"1:{day}:0"
    draft = compose(key=key, sender=pool.emails[1], recipient=pool.emails[2], when=late)
    with pool.db.begin_write() as conn:
        conn.execute(
            text(
                "INSERT INTO warmup_sends (idem_key, mailbox_id, recipient_id, kind, day, slot, "
                "message_id, subject, epoch, worker_id, status, claimed_at) VALUES "
                f"(:k, 1, 2, 'new', :d, 0, :m, :s, 1, 'gone', 'sending', {now_ms_sql(dialect)} - 1000)"
            ),
            {"k": key, "d": day, "m": draft.message_id, "s": draft.subject},
        )
    if delivered:
        with smtplib.SMTP("127.0.0.1", pool.servers.smtp_port) as smtp:
            smtp.login(pool.emails[1], pool.passwords[1])
            smtp.send_message(draft.message, to_addrs=[pool.emails[2]])
    job = pool.job(lambda: late, warmup_resend_grace_ms=1)
    pool.lease_all()
    cycle = pool.run(job, 1)
    assert cycle.recorded
    assert pool.rows("SELECT status, worker_id FROM warmup_sends WHERE idem_key = :k", k=key) == [
        ("sent", pool.worker_id)
    ]
    detail = pool.scalar("SELECT detail FROM warmup_cycles ORDER BY id DESC LIMIT 1")
    assert ('"recovered": 1' in detail) is delivered
    copies = [
        m
        for folder in ("INBOX", "Junk")
        for m in mailbox_messages(pool.servers.imap_port, pool.emails[2], pool.passwords[2], folder)
        if m["Message-ID"] == draft.message_id
    ]
    assert len(copies) == 1
