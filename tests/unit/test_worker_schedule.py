"""CycleSchedule: one live due time per mailbox, earliest first, superseded entries ignored."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from warmup_autoscaler.worker.schedule import CycleSchedule


def test_pops_the_earliest_due_entry_only_when_due() -> None:
    """Nothing pops before its time; entries come out earliest first."""
    due = CycleSchedule()
    due.set(1, 5.0)
    due.set(2, 3.0)
    assert due.next_due() == 3.0
    assert due.pop_due(2.9) is None
    assert due.pop_due(10.0) == (2, 3.0)
    assert due.pop_due(10.0) == (1, 5.0)
    assert due.pop_due(10.0) is None and due.next_due() is None and len(due) == 0


def test_a_new_time_supersedes_and_drop_removes() -> None:
    """Setting a mailbox again replaces its entry; a dropped mailbox never pops."""
    due = CycleSchedule()
    due.set(1, 1.0)
    due.set(1, 9.0)
    due.set(2, 2.0)
    due.drop(2)
    assert 2 not in due and 1 in due
    assert due.pop_due(5.0) is None
    assert due.pop_due(9.0) == (1, 9.0)


@given(st.lists(st.tuples(st.integers(0, 20), st.floats(0, 100), st.booleans()), max_size=60))
def test_each_mailbox_pops_at_most_once_with_its_last_time(
    ops: list[tuple[int, float, bool]],
) -> None:
    """After any sets and drops, draining pops each live mailbox once, at its last set time,
    in time order."""
    due = CycleSchedule()
    expected: dict[int, float] = {}
    for mailbox, when, drop in ops:
        if drop:
            due.drop(mailbox)
            expected.pop(mailbox, None)
        else:
            due.set(mailbox, when)
            expected[mailbox] = when
    popped = []
    while (item := due.pop_due(1000.0)) is not None:
        popped.append(item)
    assert dict(popped) == expected and len(popped) == len(expected)
    assert [t for _, t in popped] == sorted(t for _, t in popped)
