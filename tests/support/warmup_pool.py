"""A warmup pool for tests and benchmarks: mailboxes in the demo table, their accounts (with
encrypted passwords) pointing at the test mail servers, and a way to run cycles of the real
`warmup` job in process under real leases, with a clock of the test's choosing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import text

from tests.support.mail import MailServers
from tests.support.settings import make_settings
from warmup_autoscaler.config import Settings
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.demo import create_demo_tables, seed_mailboxes, set_active_count
from warmup_autoscaler.store.lease_sync import LeaseSync, SyncPolicy
from warmup_autoscaler.store.leases import LeaseStore
from warmup_autoscaler.store.migrate import upgrade
from warmup_autoscaler.store.registry import ACTIVE, Registry, WorkerIdentity
from warmup_autoscaler.warmup.accounts import parse_account
from warmup_autoscaler.warmup.job import WarmupJob, warmup_job
from warmup_autoscaler.warmup.secrets import SecretBox, generate_key
from warmup_autoscaler.warmup.store import AccountStore
from warmup_autoscaler.worker.jobs import Cycle, JobContext

__all__ = ["Pool", "make_pool"]


@dataclass
class Pool:
    db: Database
    servers: MailServers
    key: str
    emails: dict[int, str]
    passwords: dict[int, str]
    tag: str
    worker_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    epochs: dict[int, int] = field(default_factory=dict)

    @property
    def box(self) -> SecretBox:
        return SecretBox(self.key)

    def settings(self, **overrides: Any) -> Settings:
        """Settings named like their variables: `warmup_auth_failure_limit=2` sets
        AUTO_SCALER_WARMUP_AUTH_FAILURE_LIMIT."""
        values: dict[str, Any] = {"secret_key": self.key, "worker_job": "warmup", **overrides}
        return make_settings(for_platform=False, **values)

    def job(self, clock: Callable[[], datetime], **overrides: Any) -> WarmupJob:
        context = JobContext(db=self.db, settings=self.settings(**overrides))
        job: WarmupJob = warmup_job(context, clock=clock)  # type: ignore[call-arg]
        return job

    def lease_all(self, worker_id: str | None = None) -> dict[int, int]:
        """Give every pool mailbox to `worker_id` (default: this pool's), registered afresh for
        an hour (a lease is valid while its holder's registration is), under new epochs."""
        who = worker_id or self.worker_id
        active = "SELECT * FROM mailboxes WHERE status = 'active'"
        Registry(self.db, lease_ttl_ms=3_600_000).join(
            WorkerIdentity(id=who, name=who[:8], host="test", pid=0), ACTIVE
        )
        LeaseSync(self.db, active_query=active, policy=SyncPolicy(duty=1.0)).run()
        with self.db.begin_write() as conn:
            conn.execute(text("UPDATE autoscaler_leases SET worker_id = NULL"))
        self.epochs = LeaseStore(self.db, active_query=active).claim(who, len(self.emails) + 10)
        return self.epochs

    def run(self, job: WarmupJob, mailbox_id: int, *, worker_id: str | None = None) -> Cycle:
        """One real cycle of `job` on `mailbox_id` under the current lease; returns the Cycle."""
        results: list[bool] = []

        async def writer(cycle: Cycle, outcome: str, detail: str | None) -> bool:
            leases = LeaseStore(self.db, active_query="SELECT * FROM mailboxes")
            done = leases.record_cycle(
                worker_id=cycle.worker_id, mailbox_id=cycle.mailbox_id, epoch=cycle.epoch,
                started_at_ms=cycle.started_at_ms, outcome=outcome, detail=detail,
            )  # fmt: skip
            results.append(done)
            return done

        cycle = Cycle(
            mailbox={"id": mailbox_id}, mailbox_id=mailbox_id,
            epoch=self.epochs.get(mailbox_id, 0), worker_id=worker_id or self.worker_id,
            started_at_ms=0, writer=writer,
        )  # fmt: skip
        asyncio.run(job(cycle))
        return cycle

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.db.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.db.engine.connect() as conn:
            return list(conn.execute(text(sql), params))


def make_pool(
    db: Database,
    servers: MailServers,
    *,
    size: int = 12,
    started_on: date | None = None,
    smtp_port: int | None = None,
    bad_password: set[int] = frozenset(),  # type: ignore[assignment]
    **account: str,
) -> Pool:
    """`size` mailboxes over two fresh domains (unique to this pool), users in Dovecot, accounts
    in the database. Extra keyword arguments are account fields (CSV column names)."""
    upgrade(db)
    create_demo_tables(db)
    seed_mailboxes(db, size, status="paused")
    set_active_count(db, size)
    tag = uuid.uuid4().hex[:8]
    key = generate_key()
    box = SecretBox(key)
    emails, passwords, inputs, users = {}, {}, [], []
    for i in range(1, size + 1):
        domain = f"{'alpha' if i % 2 else 'beta'}-{tag}.test"
        email = f"user{i}@{domain}"
        password = f"pw-{tag}-{i}"
        users.append((email, password))
        emails[i], passwords[i] = email, password
        given = "wrong-password" if i in bad_password else password
        row = {
            "mailbox_id": str(i), "email": email, "password": given,
            "smtp_host": "127.0.0.1", "smtp_port": str(smtp_port or servers.smtp_port),
            "smtp_security": "none", "imap_host": "127.0.0.1",
            "imap_port": str(servers.imap_port), "imap_security": "none",
            "window_start": "0", "window_end": "24", "timezone": "UTC",
            "started_on": (started_on or datetime.now(UTC).date()).isoformat(), **account,
        }  # fmt: skip
        inputs.append(parse_account(row, today=datetime.now(UTC).date()))
    servers.dovecot.add_users(users)
    AccountStore(db).add_many(inputs, box)
    return Pool(db=db, servers=servers, key=key, emails=emails, passwords=passwords, tag=tag)
