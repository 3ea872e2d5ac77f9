"""`mailbox import FILE.csv`: every row checked before anything is written, every bad row
named by its line, and then all rows added in one transaction, or none."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import date
from pathlib import Path

from warmup_autoscaler.warmup.accounts import AccountInput, parse_account
from warmup_autoscaler.warmup.errors import AccountError

__all__ = ["COLUMNS", "read_accounts_csv"]

COLUMNS = (
    "mailbox_id", "email", "password", "smtp_host", "smtp_port", "smtp_security",
    "smtp_username", "smtp_password", "imap_host", "imap_port", "imap_security",
    "imap_username", "imap_password", "start_volume", "target_volume", "ramp_per_day",
    "reply_rate", "window_start", "window_end", "timezone", "enabled", "started_on",
)  # fmt: skip
REQUIRED = ("mailbox_id", "email", "smtp_host", "imap_host")


def read_accounts_csv(
    path: Path,
    *,
    today: date,
    existing: Callable[[list[int], list[str]], tuple[set[int], set[str]]],
) -> list[AccountInput]:
    """The file's accounts, or `AccountError` with one problem per bad line ("line 3: ...").

    `existing(ids, emails)` says which already have an account (they are errors too)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise AccountError([f"{path}: cannot be read ({exc})"]) from exc
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in COLUMNS]
    missing = [c for c in REQUIRED if c not in header]
    if not header or unknown or missing:
        bad = [f"line 1: unknown column {h!r}" for h in unknown]
        bad += [f"line 1: missing column {c!r}" for c in missing]
        allowed = ", ".join(COLUMNS)
        raise AccountError((bad or ["line 1: no header row"]) + [f"columns: {allowed}"])
    problems: list[str] = []
    items: list[tuple[int, AccountInput]] = []
    seen: dict[tuple[str, object], int] = {}
    for row in reader:
        line = reader.line_num
        if None in row:
            problems.append(f"line {line}: more values than columns")
            continue
        if not any((v or "").strip() for v in row.values()):
            continue
        try:
            item = parse_account(row, today=today)
        except AccountError as exc:
            problems += [f"line {line}: {p}" for p in exc.problems]
            continue
        for what, key in (("mailbox_id", item.mailbox_id), ("email", item.email.lower())):
            first = seen.setdefault((what, key), line)
            if first != line:
                problems.append(f"line {line}: {what} {key} is already on line {first}")
        items.append((line, item))
    if items:
        ids, emails = existing([i.mailbox_id for _, i in items], [i.email for _, i in items])
        for line, item in items:
            if item.mailbox_id in ids:
                problems.append(
                    f"line {line}: mailbox_id {item.mailbox_id} already has a warmup account"
                )
            if item.email.lower() in emails:
                problems.append(f"line {line}: email {item.email} already has a warmup account")
    if problems:
        raise AccountError(problems)
    if not items:
        raise AccountError([f"{path}: no rows to import"])
    return [item for _, item in items]
