"""The command line: run the daemon, talk to it, inspect the config, try decisions, set up the db.

Usage errors exit 2 and runtime errors exit 1, each with a one-line message and no traceback.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from warmup_autoscaler.cli_simulate import simulate
from warmup_autoscaler.config import (
    API_URL_VAR,
    ENV_FILE_VAR,
    ApiSettings,
    Settings,
    load_group,
    load_settings,
)
from warmup_autoscaler.errors import AutoscalerError
from warmup_autoscaler.warmup.cli import mailbox_app

if TYPE_CHECKING:
    from warmup_autoscaler.store.database import Database

__all__ = ["app"]

app = typer.Typer(
    name="warmup-autoscaler",
    help="Scales warmup workers to the number of active mailboxes in your database.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(
    help="Create the auto-scaler's tables, its change trigger and demo data.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.command()(simulate)
app.add_typer(mailbox_app, name="mailbox")

_env_file: Path | None = Path(".env")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar=API_URL_VAR,
        help="Base URL of the running daemon [default: http://AUTO_SCALER_API_HOST:PORT].",
    ),
]


@app.callback()
def _root(
    env_file: Annotated[
        Path,
        typer.Option(
            "--env-file",
            envvar=ENV_FILE_VAR,
            help="Settings file read before the environment.",
        ),
    ] = Path(".env"),
) -> None:
    global _env_file
    _env_file = env_file


def _settings(*, for_platform: bool = True) -> Settings:
    return load_settings(_env_file, for_platform=for_platform)


def _database(settings: Settings | None = None) -> Database:
    """The database of the settings (read for a command that runs no platform)."""
    from warmup_autoscaler.store.database import Database

    database = (settings or _settings(for_platform=False)).database
    return Database(database.sqlalchemy_url, query_timeout_ms=database.query_timeout_ms)


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@app.command()
def run() -> None:
    """Run the auto-scaler daemon: check every interval, scale, serve the API."""
    from warmup_autoscaler.daemon import start

    start(_env_file)


def _api_url(url: str | None) -> str:
    """`--url`, else the daemon's address from the settings (a bad one is a config error)."""
    if url:
        return url.rstrip("/")
    api = load_group(ApiSettings, _env_file)
    host = "127.0.0.1" if api.host in ("0.0.0.0", "::") else api.host
    return f"http://[{host}]:{api.port}" if ":" in host else f"http://{host}:{api.port}"


def _request(method: str, url: str, **kwargs: Any) -> Any:
    import httpx

    try:
        response = httpx.request(method, url, timeout=60, **kwargs)
    except httpx.HTTPError as exc:
        raise AutoscalerError(
            f"cannot reach the auto-scaler at {url} ({exc}); is `warmup-autoscaler run` running? "
            "Set --url or AUTO_SCALER_API_URL"
        ) from exc
    try:
        body = response.json()
    except ValueError as exc:
        raise AutoscalerError(f"{url} answered {response.status_code} with no JSON") from exc
    if response.status_code in (401, 403, 409):  # 409: a standby, naming the leader
        raise AutoscalerError(f"{response.status_code}: {body.get('detail')}")
    return response.status_code, body


@app.command()
def status(url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Show the running daemon's status."""
    base = _api_url(url)
    _, body = _request("GET", f"{base}/api/auto-scaler/status")
    if as_json:
        _echo_json(body)
        return
    from warmup_autoscaler.cli_render import render_status

    render_status(body)


@app.command()
def trigger(
    url: UrlOpt = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar=ApiSettings.env_name("admin_token"),
            help="Admin token.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a scaling check now on the running daemon."""
    base = _api_url(url)
    if not token:
        api = load_group(ApiSettings, _env_file)
        token = api.admin_token.get_secret_value() if api.admin_token else None
    if not token:
        raise AutoscalerError(
            f"no admin token: set {ApiSettings.env_name('admin_token')} or pass --token"
        )
    _, body = _request(
        "POST", f"{base}/api/auto-scaler/trigger", headers={"Authorization": f"Bearer {token}"}
    )
    if as_json:
        _echo_json(body)
    else:
        decision = body.get("decision") or {}
        typer.echo(body.get("message", ""))
        if decision:
            typer.echo(
                f"{decision['currentWorkers']} -> {decision['targetWorkers']} workers, "
                f"{decision['mailboxCount']} mailboxes: {decision['reason']}"
            )
    if not body.get("success"):
        raise typer.Exit(1)


@app.command()
def worker() -> None:
    """Run one warmup worker: share the active mailboxes with the fleet until SIGTERM, then drain."""
    from warmup_autoscaler.worker.command import start

    raise typer.Exit(start(_env_file))


@app.command(
    "worker-alive",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def worker_alive(ctx: typer.Context) -> None:
    """Exit 0 if this container's worker heartbeat is recent: a liveness probe (--help for more)."""
    from warmup_autoscaler.liveness import main

    raise typer.Exit(main(ctx.args))


@app.command()
def history(
    since: Annotated[
        datetime | None, typer.Option(help="Only checks at or after this ISO time.")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(help="Only checks at or before this time.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Most checks shown.")] = 50,
    action: Annotated[
        str | None, typer.Option(help="Only scale-up, scale-down or no-change.")
    ] = None,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
) -> None:
    """Show the journaled decisions, newest first (read from the database; no daemon needed)."""
    from warmup_autoscaler.store.history import HistoryStore
    from warmup_autoscaler.wire import check_json

    if action not in (None, "scale-up", "scale-down", "no-change"):
        raise typer.BadParameter("must be scale-up, scale-down or no-change", param_hint="--action")
    if as_json and as_csv:
        raise typer.BadParameter("choose one of --json and --csv", param_hint="--csv")
    since, until = _utc(since, "--since"), _utc(until, "--until")
    db = _database()
    try:
        rows = HistoryStore(db).checks(
            since=since, until=until, actions=(action,) if action else (), limit=limit
        )
    finally:
        db.dispose()
    items = [check_json(r) for r in rows]
    if as_json:
        _echo_json(items)
    elif as_csv:
        import csv

        from warmup_autoscaler.store.state import CheckRecord

        empty = CheckRecord(checked_at=datetime.now(UTC), trigger="")
        columns = list(items[0] if items else check_json(empty))
        writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(items)
    else:
        from warmup_autoscaler.cli_render import render_history

        render_history(items)


def _utc(t: datetime | None, option: str) -> datetime | None:
    """Times given without a zone are taken as UTC, as the journal stores them."""
    from warmup_autoscaler.wire import as_utc

    try:
        return None if t is None else as_utc(t)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from exc


@app.command("config")
def show_config(as_json: JsonOpt = False) -> None:
    """Show the effective settings (secrets masked) and warnings about them; run the mailbox
    query once to check what it returns."""
    from warmup_autoscaler.preflight import check_mailbox_query

    settings = _settings()
    values = settings.public_dict()
    db = _database(settings)
    try:
        query = check_mailbox_query(db, settings.database.mailbox_query)
    finally:
        db.dispose()
    unchecked = (
        query.unavailable and f"could not run the mailbox query to check it: {query.unavailable}"
    )
    warnings = [w for w in (settings.policy.flap_warning(), unchecked) if w]
    if as_json:
        _echo_json({"settings": values, "warnings": warnings, "mailboxCount": query.count})
        return
    for name, value in values.items():
        shown = "" if value is None else str(value).lower() if isinstance(value, bool) else value
        typer.echo(f"{name}={shown}")
    if query.count is not None:
        typer.echo(f"the mailbox query returns {query.count} now", err=True)
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)


@app.command()
def decide(
    mailboxes: Annotated[int, typer.Option(min=0, help="Active mailboxes.")],
    workers: Annotated[int, typer.Option(min=0, help="Current workers.")],
    seconds_since_scale_up: Annotated[
        float | None, typer.Option(min=0, help="Seconds since the last scale-up [default: never].")
    ] = None,
    seconds_since_scale_down: Annotated[
        float | None,
        typer.Option(min=0, help="Seconds since the last scale-down [default: never]."),
    ] = None,
) -> None:
    """Print the decision the engine takes under the effective config; touches nothing."""
    from datetime import UTC

    from warmup_autoscaler import policy

    settings = _settings(for_platform=False)
    now = datetime.now(UTC)

    def ago(seconds: float | None) -> Any:
        return None if seconds is None else now - timedelta(seconds=seconds)

    cfg = settings.policy.to_policy()
    up, down = ago(seconds_since_scale_up), ago(seconds_since_scale_down)
    d = policy.decide(
        mailboxes=mailboxes,
        workers=workers,
        cfg=cfg,
        last_scale_up=up,
        last_scale_down=down,
        now=now,
    )
    _echo_json(
        {
            **d.to_dict(),
            "canScaleUp": policy.can_scale_up(workers, cfg, up, now),
            "canScaleDown": policy.can_scale_down(workers, cfg, up, down, now),
        }
    )


@db_app.command("init")
def db_init(
    demo: Annotated[
        bool, typer.Option("--demo", help="Also create the demo `mailboxes` table.")
    ] = False,
) -> None:
    """Create or upgrade the auto-scaler's tables (versioned migrations)."""
    from warmup_autoscaler.store.demo import create_demo_tables
    from warmup_autoscaler.store.migrate import upgrade
    from warmup_autoscaler.watch.trigger import apply_trigger_setting

    settings = _settings(for_platform=False)
    db = _database(settings)
    try:
        upgrade(db)
        if demo:
            create_demo_tables(db)
        typer.echo(
            f"database ready: {settings.database.safe_url}"
            + (" (with demo mailboxes table)" if demo else "")
        )
        trigger_note = apply_trigger_setting(db, settings.react)
    finally:
        db.dispose()
    if trigger_note:
        typer.echo(trigger_note)


@db_app.command("remove-trigger")
def db_remove_trigger() -> None:
    """Remove the change trigger `db init` installs with AUTO_SCALER_REACT_ON_CHANGE=true."""
    from warmup_autoscaler.watch.trigger import remove_change_trigger

    settings = _settings(for_platform=False)
    db = _database(settings)
    try:
        if db.dialect_name != "postgresql":
            typer.echo("no change trigger on SQLite: nothing to remove")
            return
        typer.echo(remove_change_trigger(db, settings.react.table_name))
    finally:
        db.dispose()


@db_app.command("seed")
def db_seed(
    mailboxes: Annotated[int, typer.Option(min=1, help="How many mailboxes to add.")],
    status_: Annotated[
        str, typer.Option("--status", help="Status of the new mailboxes (active counts).")
    ] = "active",
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Only when the table has no mailboxes yet.")
    ] = False,
) -> None:
    """Add demo mailboxes to the `mailboxes` table, with a progress bar."""
    from rich.progress import Progress

    from warmup_autoscaler.sensor import MailboxCounter
    from warmup_autoscaler.store.demo import seed_mailboxes

    db = _database()
    try:
        if if_empty:
            existing = MailboxCounter(db, "SELECT COUNT(*) FROM mailboxes").count()
            if existing:
                typer.echo(f"the mailboxes table already has {existing} mailboxes; not seeding")
                return
        with Progress(transient=True, disable=mailboxes < 10_000) as bar:
            task = bar.add_task("seeding mailboxes", total=mailboxes)
            added = seed_mailboxes(
                db,
                mailboxes,
                status=status_,
                progress=lambda done: bar.update(task, completed=done),
            )
    finally:
        db.dispose()
    typer.echo(f"added {added} mailboxes with status '{status_}'")
