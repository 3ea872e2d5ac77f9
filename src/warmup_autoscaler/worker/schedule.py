"""When each owned mailbox's next warmup cycle is due: a heap with one live entry per mailbox.

Times are `time.monotonic()` seconds, passed in by the caller (nothing here reads a clock).
Setting a new due time supersedes the old entry, and dropping a mailbox (lease lost or released)
removes it; stale heap entries are skipped lazily, so every operation is O(log n).
"""

from __future__ import annotations

import heapq

__all__ = ["CycleSchedule"]


class CycleSchedule:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int]] = []  # (due, token, mailbox)
        self._tokens: dict[int, int] = {}  # mailbox -> token of its live entry
        self._counter = 0

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, mailbox: object) -> bool:
        return mailbox in self._tokens

    def set(self, mailbox: int, due: float) -> None:
        """Make `due` the mailbox's next cycle time, replacing any earlier one."""
        self._counter += 1
        self._tokens[mailbox] = self._counter
        heapq.heappush(self._heap, (due, self._counter, mailbox))

    def drop(self, mailbox: int) -> None:
        self._tokens.pop(mailbox, None)

    def next_due(self) -> float | None:
        """The earliest due time, or None when nothing is scheduled."""
        self._skip_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> tuple[int, float] | None:
        """Remove and return (mailbox, due) of the earliest entry due at `now`, if any."""
        self._skip_stale()
        if not self._heap or self._heap[0][0] > now:
            return None
        due, _, mailbox = heapq.heappop(self._heap)
        del self._tokens[mailbox]
        return mailbox, due

    def _skip_stale(self) -> None:
        while self._heap and self._tokens.get(self._heap[0][2]) != self._heap[0][1]:
            heapq.heappop(self._heap)
