"""The engage step of a cycle, on the mailbox's own IMAP account: pool mail found in the spam
folder is recorded and moved to the inbox (a rescue); unread pool mail in the inbox is recorded,
flagged important for a share, replied to per the reply rate (threaded), and marked read; read
pool mail older than AUTO_SCALER_WARMUP_KEEP_HOURS is moved to AUTO_SCALER_WARMUP_ARCHIVE_FOLDER
(or deleted when that is empty), so the user's inbox stays clean.

Pool mail is what carries the `X-Warmup-Id` header AND whose Message-ID is in `warmup_sends`
for this recipient. Each engagement is recorded (fenced) before it is done on the server, and
every decision is drawn from the Message-ID, so a cycle cut short and run again (by this worker
or the next owner) finishes the same work without doing any of it twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from warmup_autoscaler.warmup.compose import HEADER, compose_reply
from warmup_autoscaler.warmup.context import CycleRun, FencedOut
from warmup_autoscaler.warmup.fenced import Claim
from warmup_autoscaler.warmup.imap import Fetched, ImapSession, find_junk
from warmup_autoscaler.warmup.send import deliver, share
from warmup_autoscaler.warmup.smtp import SmtpSession

__all__ = ["FLAG_SHARE", "engage"]

FLAG_SHARE = 0.2  # of received pool messages are flagged important
MAX_THREAD = 4  # messages in one conversation at most: no reply to the fourth


def _record(
    run: CycleRun, sender: int, message_id: str, kind: str, folder: str | None = None
) -> bool:
    """Record an engagement; True if it is new, False if it was recorded before."""
    claim = run.store.record_event(
        run.fence, sender_id=sender, message_id=message_id, kind=kind, folder=folder
    )
    if claim is Claim.FENCED:
        raise FencedOut(f"lease lost recording {kind}")
    return claim is Claim.DONE


def _pool_mail(run: CycleRun, imap: ImapSession, *criteria: str) -> list[tuple[Fetched, int, str]]:
    """(message, sender mailbox, original subject) of the pool mail in the selected folder."""
    uids = imap.search(*criteria, "HEADER", HEADER, '""')
    fetched = imap.fetch(uids)
    known = run.store.senders_of(run.account.mailbox_id, [f.message_id for f in fetched])
    return [(f, *known[f.message_id]) for f in fetched if f.message_id in known]


def _rescue(run: CycleRun, imap: ImapSession, junk: str) -> None:
    imap.select(junk)
    found = _pool_mail(run, imap)
    for message, sender, _ in found:
        run.check_stop()
        _record(run, sender, message.message_id, "received", "spam")
        if _record(run, sender, message.message_id, "rescued"):
            run.counts.rescued += 1
    imap.move([m.uid for m, _, _ in found], "INBOX")


def _reply(run: CycleRun, smtp: SmtpSession, message: Fetched, sender: int) -> None:
    recipient = run.store.account(sender)
    if recipient is None:
        return
    key = f"{run.account.mailbox_id}:reply:{message.message_id}"[:200]
    draft = compose_reply(
        key=key, sender=run.account.email, recipient=recipient.email, when=run.clock(),
        original_id=message.message_id, original_subject=message.subject,
        original_references=message.references,
    )  # fmt: skip
    claim = run.store.claim_send(
        run.fence, idem_key=key, recipient_id=sender, kind="reply",
        day=run.clock().date().isoformat(), message_id=draft.message_id, subject=draft.subject,
        in_reply_to=message.message_id,
    )  # fmt: skip
    if claim is Claim.FENCED:
        raise FencedOut("lease lost claiming a reply")
    if claim is Claim.DONE:
        deliver(run, smtp, key, draft, recipient.email, counted_as="replied")


def _read_inbox(run: CycleRun, imap: ImapSession) -> None:
    imap.select("INBOX")
    found = _pool_mail(run, imap, "UNSEEN")
    smtp: SmtpSession | None = None
    try:
        for message, sender, _ in found:
            run.check_stop()
            mid = message.message_id
            if _record(run, sender, mid, "received", "inbox"):
                run.counts.received += 1
            if share(mid, "flag") < FLAG_SHARE and _record(run, sender, mid, "flagged"):
                imap.add_flags([message.uid], "(\\Flagged)")
                run.counts.flagged += 1
            depth = len(message.references.split()) + 1
            if depth < MAX_THREAD and share(mid, "reply") < run.account.reply_rate:
                if smtp is None:
                    smtp = SmtpSession(run.login("smtp")).__enter__()
                _reply(run, smtp, message, sender)
                _record(run, sender, mid, "replied")
            _record(run, sender, mid, "read")
            imap.add_flags([message.uid], "(\\Seen)")
    finally:
        if smtp is not None:
            smtp.__exit__(None, None, None)


def _archive(run: CycleRun, imap: ImapSession, now: datetime) -> None:
    imap.select("INBOX")
    cutoff = now - timedelta(hours=run.limits.keep_hours)
    old = []
    for message, sender, _ in _pool_mail(run, imap, "SEEN"):
        try:
            arrived = datetime.strptime(message.internal_date.strip(), "%d-%b-%Y %H:%M:%S %z")
        except (TypeError, ValueError):
            continue
        if arrived <= cutoff:
            old.append((message, sender))
    if not old:
        return
    for message, sender in old:
        run.check_stop()
        _record(run, sender, message.message_id, "archived")
    uids = [m.uid for m, _ in old]
    folder = run.limits.archive_folder
    if folder:
        imap.ensure_folder(folder)
        imap.move(uids, folder)
    else:
        imap.delete(uids)
    run.counts.archived += len(uids)


def engage(run: CycleRun) -> None:
    """Rescue, read, flag, reply and tidy, in one IMAP session."""
    with ImapSession(run.login("imap")) as imap:
        junk = find_junk(imap.folders())
        if junk is not None:
            _rescue(run, imap, junk)
        _read_inbox(run, imap)
        _archive(run, imap, run.clock())
