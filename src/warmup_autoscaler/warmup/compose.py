"""Plain, human-looking messages from templates (no external service), marked for the pool.

Each message is drawn from a seed (its idempotency key), so composing the same slot again gives
the same message: a resent slot is the very same mail, Message-ID included. Every message
carries `X-Warmup-Id`, the header the pool searches for; whether a message really is pool mail
is then confirmed by its Message-ID in `warmup_sends`.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

__all__ = ["HEADER", "Draft", "compose", "compose_reply", "message_id_for"]

HEADER = "X-Warmup-Id"

SUBJECTS = (
    "Quick question about next week", "Notes from today", "Catching up", "Lunch on Thursday?",
    "The document you mentioned", "Following up", "Plans for the weekend", "A small favour",
    "Meeting notes", "Thanks again", "That article I talked about", "Project timeline",
    "Checking in", "Ideas for the offsite", "Coffee sometime?", "Re: the schedule",
    "Book recommendation", "Update on the proposal", "Travel plans", "Your thoughts?",
)  # fmt: skip
GREETINGS = ("Hi {name},", "Hello {name},", "Hey {name},", "Good morning {name},", "{name},")
OPENERS = (
    "I hope your week is going well.", "Thanks for getting back to me so quickly.",
    "It was good to talk yesterday.", "I was just thinking about what you said.",
    "Sorry for the slow reply, it has been a busy few days.", "Hope you had a good weekend.",
)  # fmt: skip
BODIES = (
    "Could you have a look at the draft when you get a chance? No rush at all.",
    "I moved our call to Thursday afternoon, let me know if that still works for you.",
    "The numbers look better than last month, so I think we are on the right track.",
    "I found the notes from the last meeting and added a few points at the end.",
    "Do you still have the contact of the person from the conference?",
    "We could meet at the usual place around noon if that suits you.",
    "I read the chapter you suggested and really liked the part about habits.",
    "Let me know what you think of the new plan before Friday.",
    "I will send the final version tomorrow morning once I have checked the details.",
    "The team liked your idea, so we will try it out next sprint.",
    "Shall we keep the same agenda as last time, or add the budget review?",
    "I am around all afternoon if you want to go through it together.",
)  # fmt: skip
CLOSINGS = ("Best,", "Thanks,", "Cheers,", "Talk soon,", "Kind regards,", "All the best,")
REPLIES = (
    "Thanks, that sounds good to me.", "Great, thanks for letting me know!",
    "Works for me, see you then.", "Thanks for sending this over, I will take a look today.",
    "Good point, let us talk about it on our next call.", "Perfect, thank you!",
    "Sounds like a plan. I will get back to you by tomorrow.",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Draft:
    message_id: str
    subject: str
    message: EmailMessage


def _name(address: str) -> str:
    local = address.partition("@")[0]
    first = local.replace("_", ".").replace("-", ".").split(".")[0]
    return first[:1].upper() + first[1:] if first else "there"


def message_id_for(key: str, sender: str) -> str:
    """A Message-ID drawn from the idempotency key: the same slot always gets the same one."""
    digest = hashlib.blake2b(key.encode(), digest_size=12).hexdigest()
    return f"<warmup.{digest}@{sender.rpartition('@')[2].lower()}>"


def _message(
    *, sender: str, recipient: str, subject: str, body: str, key: str, when: datetime
) -> tuple[str, EmailMessage]:
    message_id = message_id_for(key, sender)
    msg = EmailMessage()
    msg["From"] = formataddr((_name(sender), sender))
    msg["To"] = formataddr((_name(recipient), recipient))
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = message_id
    msg[HEADER] = message_id.strip("<>").partition("@")[0]
    msg.set_content(body)
    return message_id, msg


def compose(
    *,
    key: str,
    sender: str,
    recipient: str,
    when: datetime,
    thread: tuple[str, str] | None = None,
) -> Draft:
    """A new message, or with `thread` = (Message-ID, subject) a follow-up in that thread."""
    rng = random.Random(key)
    lines = [rng.choice(GREETINGS).format(name=_name(recipient)), ""]
    lines.append(" ".join([rng.choice(OPENERS), *rng.sample(BODIES, rng.randint(1, 3))]))
    lines += ["", rng.choice(CLOSINGS), _name(sender)]
    subject = rng.choice(SUBJECTS)
    if thread is not None:
        subject = thread[1] if thread[1].lower().startswith("re:") else f"Re: {thread[1]}"
    message_id, msg = _message(
        sender=sender, recipient=recipient, subject=subject, body="\n".join(lines) + "\n",
        key=key, when=when,
    )  # fmt: skip
    if thread is not None:
        msg["In-Reply-To"] = thread[0]
        msg["References"] = thread[0]
    return Draft(message_id=message_id, subject=subject, message=msg)


def compose_reply(
    *,
    key: str,
    sender: str,
    recipient: str,
    when: datetime,
    original_id: str,
    original_subject: str,
    original_references: str,
) -> Draft:
    """A short reply to a received pool message, threaded with In-Reply-To and References."""
    rng = random.Random(key)
    body = "\n".join(
        [rng.choice(GREETINGS).format(name=_name(recipient)), "", rng.choice(REPLIES), "",
         rng.choice(CLOSINGS), _name(sender)]
    )  # fmt: skip
    subject = (
        original_subject
        if original_subject.lower().startswith("re:")
        else (f"Re: {original_subject}")
    )
    message_id, msg = _message(
        sender=sender, recipient=recipient, subject=subject, body=body + "\n", key=key, when=when
    )
    msg["In-Reply-To"] = original_id
    msg["References"] = " ".join([*original_references.split(), original_id][-10:])
    return Draft(message_id=message_id, subject=subject, message=msg)
