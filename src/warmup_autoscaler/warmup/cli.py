"""`warmup-autoscaler mailbox ...`: the warmup accounts: add, import, test, list, show, pause,
resume, and a key for AUTO_SCALER_SECRET_KEY. Passwords are prompted for (hidden) or read from
WARMUP_MAILBOX_PASSWORD, encrypted before they are stored, and never printed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from warmup_autoscaler.errors import AutoscalerError
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.warmup.errors import AccountError, MailError

__all__ = ["mailbox_app"]

mailbox_app = typer.Typer(help="Warmup mailbox accounts (SMTP + IMAP).", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
IdArg = Annotated[int, typer.Argument(min=1, help="The mailbox's id.")]


def _settings() -> Any:
    from warmup_autoscaler import cli as root

    return root._settings(for_platform=False)


@contextmanager
def _database() -> Iterator[tuple[Any, Database]]:
    from warmup_autoscaler.store.migrate import upgrade

    settings = _settings()
    database = settings.database
    db = Database(database.sqlalchemy_url, query_timeout_ms=database.query_timeout_ms)
    try:
        upgrade(db)
        yield settings, db
    finally:
        db.dispose()


def _fail(problems: list[str], code: int, summary: str | None = None) -> None:
    for problem in problems:
        typer.echo(f"error: {problem}", err=True)
    if summary:
        typer.echo(f"error: {summary}", err=True)
    raise typer.Exit(code)


@mailbox_app.command("keygen")
def keygen() -> None:
    """Print a new random key for AUTO_SCALER_SECRET_KEY."""
    from warmup_autoscaler.warmup.secrets import generate_key

    typer.echo(generate_key())


@mailbox_app.command("add")
def add(
    mailbox_id: Annotated[
        int, typer.Option("--mailbox-id", help="The mailbox's id in your table.")
    ],
    email: Annotated[str, typer.Option(help="The mailbox's address.")],
    smtp_host: Annotated[str, typer.Option(help="SMTP server.")],
    imap_host: Annotated[str, typer.Option(help="IMAP server.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            envvar="WARMUP_MAILBOX_PASSWORD",
            help="Password of both servers (prompted for when not given).",
        ),
    ],
    smtp_port: Annotated[int | None, typer.Option(help="[default: 587, 465 with ssl]")] = None,
    smtp_security: Annotated[
        str, typer.Option(help="ssl, starttls or none (loopback only)")
    ] = "starttls",
    imap_port: Annotated[int | None, typer.Option(help="[default: 993, 143 without ssl]")] = None,
    imap_security: Annotated[
        str, typer.Option(help="ssl, starttls or none (loopback only)")
    ] = "ssl",
    username: Annotated[
        str | None, typer.Option(help="Login of both servers [default: email].")
    ] = None,
    start_volume: Annotated[int, typer.Option(help="Messages on day 0.")] = 2,
    target_volume: Annotated[
        int, typer.Option(help="Messages per day at the end of the ramp.")
    ] = 40,
    ramp_per_day: Annotated[int, typer.Option(help="Messages added each day.")] = 2,
    reply_rate: Annotated[
        float, typer.Option(help="Share of received pool mail replied to.")
    ] = 0.3,
    window_start: Annotated[int, typer.Option(help="Sending window: first hour (local).")] = 8,
    window_end: Annotated[int, typer.Option(help="Sending window: end hour (local).")] = 18,
    timezone: Annotated[str, typer.Option(help="IANA time zone of the window.")] = "UTC",
    disabled: Annotated[
        bool, typer.Option("--disabled", help="Add it without warming it.")
    ] = False,
) -> None:
    """Add one mailbox to the warmup pool (its password is stored encrypted)."""
    from warmup_autoscaler.warmup.accounts import parse_account
    from warmup_autoscaler.warmup.job import secret_box
    from warmup_autoscaler.warmup.store import AccountStore

    raw = {
        "mailbox_id": mailbox_id, "email": email, "password": password, "smtp_host": smtp_host,
        "smtp_port": smtp_port, "smtp_security": smtp_security, "imap_host": imap_host,
        "imap_port": imap_port, "imap_security": imap_security, "smtp_username": username,
        "imap_username": username, "start_volume": start_volume, "target_volume": target_volume,
        "ramp_per_day": ramp_per_day, "reply_rate": reply_rate, "window_start": window_start,
        "window_end": window_end, "timezone": timezone, "enabled": str(not disabled),
    }  # fmt: skip
    try:
        item = parse_account(raw, today=datetime.now(UTC).date())
    except AccountError as exc:
        _fail([p.replace("_", "-", 1) if "=" in p else p for p in exc.problems], 2)
        return
    with _database() as (settings, db):
        box = secret_box(settings.warmup)
        store = AccountStore(db)
        store.check_key(box)
        ids, emails = store.existing([item.mailbox_id], [item.email])
        if ids or emails:
            raise AutoscalerError(
                f"mailbox {item.mailbox_id} ({item.email}) already has a warmup account"
            )
        store.add_many([item], box)
    typer.echo(f"added mailbox {item.mailbox_id} ({item.email}) to the warmup pool")


@mailbox_app.command("import")
def import_csv(
    file: Annotated[Path, typer.Argument(help="CSV with a header row; see docs/warmup.md.")],
) -> None:
    """Add every mailbox of a CSV file: all rows are checked first; one bad row, none added."""
    from warmup_autoscaler.warmup.importer import read_accounts_csv
    from warmup_autoscaler.warmup.job import secret_box
    from warmup_autoscaler.warmup.store import AccountStore

    with _database() as (settings, db):
        box = secret_box(settings.warmup)
        store = AccountStore(db)
        store.check_key(box)
        try:
            items = read_accounts_csv(file, today=datetime.now(UTC).date(), existing=store.existing)
            added = store.add_many(items, box)
        except AccountError as exc:
            _fail(exc.problems, 1, f"nothing imported from {file}")
            return
    typer.echo(f"imported {added} mailboxes from {file}")


@mailbox_app.command("test")
def test(mailbox_id: IdArg) -> None:
    """Connect and log in to the mailbox's SMTP and IMAP servers; says what failed."""
    from warmup_autoscaler.warmup.context import JobLimits, server_login
    from warmup_autoscaler.warmup.imap import ImapSession
    from warmup_autoscaler.warmup.job import limits_from_settings, secret_box
    from warmup_autoscaler.warmup.smtp import SmtpSession
    from warmup_autoscaler.warmup.store import AccountStore

    with _database() as (settings, db):
        box = secret_box(settings.warmup)
        account = AccountStore(db).get(mailbox_id)
        limits: JobLimits = limits_from_settings(settings.warmup)
    if account is None:
        raise AutoscalerError(f"mailbox {mailbox_id} has no warmup account")
    failed = False
    for kind in ("smtp", "imap"):
        login = server_login(account, kind, box, limits.timeout_s)
        try:
            with SmtpSession(login) if kind == "smtp" else ImapSession(login):
                pass
            typer.echo(
                f"{kind}: ok ({login.where}, {login.security}, logged in as {login.username})"
            )
        except MailError as exc:
            failed = True
            typer.echo(f"{kind}: FAILED ({exc.kind.value}): {exc.message}")
    if failed:
        raise typer.Exit(1)


@mailbox_app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Every warmup mailbox: state, today's quota and its 7-day figures."""
    from warmup_autoscaler.warmup.stats import Figures, figures
    from warmup_autoscaler.warmup.store import AccountStore

    with _database() as (_, db):
        accounts = AccountStore(db).all()
        per, total = figures(db)
    items = [{**a.public_dict(), "figures": per.get(a.mailbox_id, Figures()).to_dict()}
             for a in accounts]  # fmt: skip
    if as_json:
        typer.echo(json.dumps({"pool": total.to_dict(), "mailboxes": items}, indent=2))
        return
    from warmup_autoscaler.warmup.cli_render import render_mailboxes

    render_mailboxes(items, total.to_dict())


@mailbox_app.command("show")
def show(mailbox_id: IdArg, as_json: JsonOpt = False) -> None:
    """One mailbox's settings, safety state and 7-day figures (never its password)."""
    from warmup_autoscaler.warmup.stats import Figures, figures
    from warmup_autoscaler.warmup.store import AccountStore

    with _database() as (_, db):
        account = AccountStore(db).get(mailbox_id)
        per, _ = figures(db, mailbox_id)
    if account is None:
        raise AutoscalerError(f"mailbox {mailbox_id} has no warmup account")
    item = {**account.public_dict(), "figures": per.get(mailbox_id, Figures()).to_dict()}
    typer.echo(json.dumps(item, indent=2) if as_json else _plain(item))


def _plain(item: dict[str, Any], indent: str = "") -> str:
    lines = []
    for key, value in item.items():
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines.append(_plain(value, indent + "  "))
        else:
            lines.append(f"{indent}{key}: {'-' if value is None else value}")
    return "\n".join(lines)


def _set_paused(mailbox_id: int, reason: str | None) -> None:
    from warmup_autoscaler.warmup.store import AccountStore

    with _database() as (_, db):
        if not AccountStore(db).set_paused(mailbox_id, reason):
            raise AutoscalerError(f"mailbox {mailbox_id} has no warmup account")


@mailbox_app.command("pause")
def pause(
    mailbox_id: IdArg,
    reason: Annotated[
        str, typer.Option(help="Why (shown in list and the API).")
    ] = "paused by hand",
) -> None:
    """Stop warming a mailbox (its worker skips it from its next cycle)."""
    _set_paused(mailbox_id, reason)
    typer.echo(f"mailbox {mailbox_id} paused: {reason}")


@mailbox_app.command("resume")
def resume(mailbox_id: IdArg) -> None:
    """Warm a paused mailbox again (also after a safety stop: fix its cause first)."""
    _set_paused(mailbox_id, None)
    typer.echo(f"mailbox {mailbox_id} resumed")
