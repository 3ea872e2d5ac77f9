"""Who a mailbox writes to next: never itself, least-written partners first, other domains
before its own, and today's least-used recipient domains first; ties broken at random."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Partner", "pick_partner"]


@dataclass(frozen=True, kw_only=True)
class Partner:
    mailbox_id: int
    email: str

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2].lower()


def pick_partner(
    sender: Partner,
    pool: Sequence[Partner],
    *,
    pair_counts: Mapping[int, int],
    domain_counts: Mapping[str, int],
    rng: random.Random,
) -> Partner | None:
    """The recipient of the sender's next message, or None when the pool has no one else.

    `pair_counts`: messages the sender sent each recipient lately (e.g. 7 days);
    `domain_counts`: messages it sent each recipient domain today.
    """
    others = [p for p in pool if p.mailbox_id != sender.mailbox_id]
    if not others:
        return None
    return min(
        others,
        key=lambda p: (
            pair_counts.get(p.mailbox_id, 0),
            p.domain == sender.domain,
            domain_counts.get(p.domain, 0),
            rng.random(),
        ),
    )
