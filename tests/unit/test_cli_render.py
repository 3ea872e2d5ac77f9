"""The CLI's history table in terminals of every width: one line per check, cut, never wrapped."""

from __future__ import annotations

import pytest

from warmup_autoscaler.cli_render import render_history

LONG = "High utilization (85.0%) but scale-up cooldown has 299s left " + "and more words " * 8


def item(reason: str | None, *, action: str | None = "no-change", error: str | None = None):
    return {
        "checkedAt": "2026-05-01T00:05:00.123456Z",
        "action": action,
        "currentWorkers": None if action is None else 2,
        "targetWorkers": None if action is None else 3,
        "mailboxCount": None if action is None else 1500,
        "utilizationPercent": None if action is None else 75.0,
        "executed": False,
        "skipped": "dry-run" if action else None,
        "reason": reason,
        "error": error,
    }


ITEMS = [
    item(LONG),
    item("Utilization 75.0% within band (30%-80%)"),
    item(None, action=None, error="the mailbox query failed: " + "x" * 100),
]


@pytest.mark.parametrize("columns", [40, 60, 80, 120, 300])
def test_each_check_is_one_line_cut_to_the_width(monkeypatch, capsys, columns):
    """With COLUMNS=N every line fits in N characters and each check takes exactly one line."""
    monkeypatch.setenv("COLUMNS", str(columns))
    render_history(ITEMS)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 + len(ITEMS)  # the title, the header, one line per check
    assert all(len(line) <= columns for line in lines), [len(line) for line in lines]
    assert [line[:19] for line in lines[2:]] == ["2026-05-01 00:05:00"] * 3
    if columns < 300:
        assert lines[2].endswith("…")


def test_a_wide_terminal_shows_the_reasons_whole(monkeypatch, capsys):
    """Wide enough, nothing is cut: the reasons and the error appear in full."""
    monkeypatch.setenv("COLUMNS", "400")
    render_history(ITEMS)
    out = capsys.readouterr().out
    assert LONG in out and "Utilization 75.0% within band (30%-80%)" in out
    assert "error" in out and "x" * 100 in out
