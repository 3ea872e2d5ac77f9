"""The dashboard's deliverability panel in headless Chromium, against the real daemon whose
database holds a warmup pool with a week of sends and engagements (written as the job would)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import text

from tests.e2e import dashboard_support as ds
from tests.e2e.conftest import cli, wait_until
from warmup_autoscaler.store.database import Database, now_ms_sql
from warmup_autoscaler.warmup.accounts import parse_account
from warmup_autoscaler.warmup.secrets import SecretBox, generate_key
from warmup_autoscaler.warmup.store import AccountStore


def seed_pool(url: str, key: str) -> None:
    """6 accounts; each sends 10 messages, of which 8 land in the inbox and 2 in spam (both
    rescued) and 3 are replied to; mailbox 6 bounced 4 times and is paused by a safety stop."""
    db = Database(url)
    try:
        today = datetime.now(UTC).date()
        items = [
            parse_account({"mailbox_id": str(i), "email": f"m{i}@{'a' if i % 2 else 'b'}.test",
                           "password": f"secret-{i}", "smtp_host": "smtp.example.com",
                           "imap_host": "imap.example.com"}, today=today)
            for i in range(1, 7)
        ]  # fmt: skip
        AccountStore(db).add_many(items, SecretBox(key))
        now = now_ms_sql(db.dialect_name)
        with db.begin_write() as conn:
            for sender in range(1, 7):
                receiver = sender % 6 + 1
                for n in range(10):
                    mid = f"<s{sender}-{n}@x>"
                    conn.execute(text(
                        "INSERT INTO warmup_sends (idem_key, mailbox_id, recipient_id, kind, day, "
                        "slot, message_id, subject, epoch, worker_id, status, claimed_at) VALUES "
                        f"(:k, :s, :r, 'new', '2026-01-01', :n, :m, 'Hi', 1, 'w', 'sent', {now})"),
                        {"k": f"{sender}:{n}", "s": sender, "r": receiver, "n": n, "m": mid})  # fmt: skip
                    kinds = [("received", "spam" if n < 2 else "inbox")]
                    kinds += [("rescued", None)] if n < 2 else []
                    kinds += [("replied", None)] if n < 3 else []
                    for kind, folder in kinds:
                        conn.execute(text(
                            "INSERT INTO warmup_events (mailbox_id, sender_id, message_id, kind, "
                            f"folder, epoch, worker_id, at) VALUES (:r, :s, :m, :k, :f, 1, 'w', {now})"),
                            {"r": receiver, "s": sender, "m": mid, "k": kind, "f": folder})  # fmt: skip
            for n in range(4):
                conn.execute(text(
                    "INSERT INTO warmup_sends (idem_key, mailbox_id, recipient_id, kind, day, slot, "
                    "message_id, subject, epoch, worker_id, status, claimed_at) VALUES "
                    f"(:k, 6, 1, 'new', '2026-01-02', :n, :m, 'Hi', 1, 'w', 'bounced', {now})"),
                    {"k": f"b:{n}", "n": n, "m": f"<b{n}@x>"})  # fmt: skip
            conn.execute(text(
                "UPDATE warmup_accounts SET paused_reason = 'safety stop: bounce rate 29%', "
                f"paused_by = 'safety', paused_at = {now} WHERE mailbox_id = 6"))  # fmt: skip
    finally:
        db.dispose()


def test_the_deliverability_panel_shows_the_pool_and_its_mailboxes(
    tmp_path, base_env, daemon_factory
):
    """The panel's totals equal /api/warmup/mailboxes; the paused mailbox is listed first with
    its safety-stop reason; no password and no 'null' on the page."""
    key = generate_key()
    env = dict(base_env, DATABASE_URL=f"sqlite:///{tmp_path / 'warmup.db'}",
               AUTO_SCALER_SECRET_KEY=key, AUTO_SCALER_CHECK_INTERVAL_MS="2000")  # fmt: skip
    assert cli(tmp_path, env, "db", "init", "--demo").returncode == 0
    seed_pool(env["DATABASE_URL"], key)
    daemon = daemon_factory(env).start()
    wait_until(lambda: daemon.status()["lastDecision"], what="the daemon's first decision")
    chromium = ds.Chromium(ds.find_chromium())
    dom = chromium.dom(f"{daemon.url}/")
    api = httpx.get(f"{daemon.url}/api/warmup/mailboxes", timeout=10).json()
    chromium.screenshot(
        f"{daemon.url}/#warmup-card", ds.ARTIFACTS / "dashboard-warmup.png", (1280, 2000)
    )
    p = api["pool"]
    assert (p["sent"], p["inbox"], p["spam"], p["rescued"], p["replied"], p["bounced"]) == (
        60,
        48,
        12,
        12,
        18,
        4,
    )
    assert dom.text("warmup-inbox-rate") == "80.0%"
    assert [dom.text(f"warmup-{k}") for k in ("sent", "spam", "rescued", "replied", "bounced", "mailboxes", "paused")] == [
        "60", "12", "12", "18", "4", "6", "1"]  # fmt: skip
    rows = dom.by_id("warmup-rows").find_all("tr")
    assert len(rows) == 6 and rows[0].attrs["data-mailbox"] == "6"
    assert rows[0].text == "m6@b.test Safety stop 10 8 2 2 3 4 80.0% safety stop: bounce rate 29%"
    page = dom.body.text
    assert "secret-" not in page and "null" not in page.split() and "undefined" not in page
    assert daemon.stop() == 0
