"""The send step of a cycle: today's due slots, each claimed under the lease by its
idempotency key (mailbox:day:slot) before it is sent over one SMTP session.

A slot found claimed but unfinished ('sending': its owner stopped or lost the lease mid-send)
is left alone for AUTO_SCALER_WARMUP_RESEND_GRACE_MS after its claim (above the SMTP servers'
idle timeout, 5 minutes or more by RFC 5321: by then a frozen owner's delivery has landed, or its
connection was dropped and it cannot land any more); then it is looked for in the recipient's
folders by its Message-ID: found, it is recorded as sent; not found, the very same message (same
Message-ID) is sent again under the new lease. Just before each message leaves, the lease is
checked once more.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable

from warmup_autoscaler.warmup.compose import Draft, compose
from warmup_autoscaler.warmup.context import CycleRun, FencedOut
from warmup_autoscaler.warmup.errors import MailError, MailFailure
from warmup_autoscaler.warmup.fenced import Claim, SendRow
from warmup_autoscaler.warmup.imap import ImapSession, find_junk
from warmup_autoscaler.warmup.partners import Partner, pick_partner
from warmup_autoscaler.warmup.plan import Ramp, day_plan
from warmup_autoscaler.warmup.smtp import SmtpSession

__all__ = ["THREAD_SHARE", "deliver", "ramp_of", "send_due", "share"]

THREAD_SHARE = 0.25  # of new messages continue the pair's latest thread


def share(key: str, what: str) -> float:
    """A number in [0, 1) fixed by (key, what): the same decision every time it is taken."""
    digest = hashlib.blake2b(f"{what}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def ramp_of(run: CycleRun) -> Ramp:
    from datetime import date

    a = run.account
    return Ramp(
        start_volume=a.start_volume, target_volume=a.target_volume, ramp_per_day=a.ramp_per_day,
        window_start_hour=a.window_start_hour, window_end_hour=a.window_end_hour,
        timezone=a.timezone, started_on=date.fromisoformat(a.started_on),
    )  # fmt: skip


def deliver(
    run: CycleRun,
    smtp: SmtpSession,
    key: str,
    draft: Draft,
    recipient: str,
    *,
    counted_as: str = "sent",
) -> bool:
    """Send a claimed message and record how it ended; True when it was delivered."""
    if not run.store.fence_holds(run.fence):
        raise FencedOut(f"lease lost before sending {key}")
    try:
        smtp.send(draft.message, run.account.email, recipient)
    except MailError as exc:
        if exc.kind is MailFailure.REJECTED:
            run.store.finish_send(run.fence, key, "bounced", exc.message)
            run.counts.bounced += 1
            return False
        if exc.kind is MailFailure.TEMPORARY:
            run.store.finish_send(run.fence, key, "deferred", exc.message)
            run.counts.deferred += 1
            return False
        raise  # the connection broke: the slot stays 'sending' and is looked for next time
    run.store.finish_send(run.fence, key, "sent", None)
    setattr(run.counts, counted_as, getattr(run.counts, counted_as) + 1)
    return True


def _delivered_already(run: CycleRun, row: SendRow) -> bool:
    """Whether the recipient already has `row`'s message (inbox, spam or archive folder)."""
    recipient = run.store.account(row.recipient_id)
    if recipient is None:
        return False
    try:
        with ImapSession(run.login("imap", recipient)) as imap:
            folders = imap.folders()
            names = {name for name, _ in folders}
            for folder in ("INBOX", find_junk(folders), run.limits.archive_folder):
                if folder and folder in names:
                    imap.select(folder)
                    if imap.search_header("Message-ID", row.message_id):
                        return True
    except MailError:
        return False
    return False


def _resume(run: CycleRun, smtp: SmtpSession, row: SendRow) -> None:
    if row.status == "sending" and _delivered_already(run, row):
        if not run.store.retake_send(run.fence, row.idem_key):
            raise FencedOut(f"lease lost taking over {row.idem_key}")
        run.store.finish_send(run.fence, row.idem_key, "sent", None)
        run.counts.recovered += 1
        return
    recipient = run.store.account(row.recipient_id)
    if recipient is None:
        return
    if not run.store.retake_send(run.fence, row.idem_key):
        raise FencedOut(f"lease lost taking over {row.idem_key}")
    thread = (row.in_reply_to, row.subject) if row.in_reply_to else None
    draft = compose(
        key=row.idem_key, sender=run.account.email, recipient=recipient.email,
        when=run.clock(), thread=thread,
    )  # fmt: skip
    deliver(run, smtp, row.idem_key, draft, recipient.email)


def send_due(run: CycleRun, pool: Callable[[], list[Partner]]) -> None:
    """Send every slot of today that is due and not yet claimed, and finish the unfinished ones
    (of any recent day: they count for their own day's quota)."""
    a, store = run.account, run.store
    now = run.clock()
    plan = day_plan(ramp_of(run), now, seed=a.mailbox_id)
    day = plan.day.isoformat()
    rows = store.sends_on(a.mailbox_id, day)
    due = plan.due(now)
    fresh = [slot for slot in due if slot not in rows]
    grace = run.limits.resend_grace_ms
    unfinished = [
        row
        for row in store.unfinished(a.mailbox_id)
        if row.status == "deferred" or row.age_ms >= grace
    ]
    if not fresh and not unfinished:
        return
    with SmtpSession(run.login("smtp")) as smtp:
        for row in unfinished:
            run.check_stop()
            _resume(run, smtp, row)
        if not fresh:
            return
        partners, me = pool(), Partner(mailbox_id=a.mailbox_id, email=a.email)
        pairs = store.pair_counts(a.mailbox_id)
        emails = {p.mailbox_id: p.email for p in partners}
        domains = Counter(
            emails.get(r.recipient_id, "@").rpartition("@")[2].lower() for r in rows.values()
        )
        for slot in fresh:
            run.check_stop()
            key = f"{a.mailbox_id}:{day}:{slot}"
            rng = random.Random(key)
            partner = pick_partner(me, partners, pair_counts=pairs, domain_counts=domains, rng=rng)
            if partner is None:
                return
            thread = None
            if share(key, "thread") < THREAD_SHARE:
                thread = store.latest_thread(a.mailbox_id, partner.mailbox_id)
            draft = compose(
                key=key, sender=a.email, recipient=partner.email, when=now, thread=thread
            )
            claim = store.claim_send(
                run.fence, idem_key=key, recipient_id=partner.mailbox_id, kind="new", day=day,
                slot=slot, message_id=draft.message_id, subject=draft.subject,
                in_reply_to=thread[0] if thread else None,
            )  # fmt: skip
            if claim is Claim.FENCED:
                raise FencedOut(f"lease lost claiming {key}")
            if claim is Claim.EXISTS:
                continue
            pairs[partner.mailbox_id] = pairs.get(partner.mailbox_id, 0) + 1
            domains[partner.domain] += 1
            deliver(run, smtp, key, draft, partner.email)
