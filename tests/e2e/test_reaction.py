"""The real daemon reacting to changes of the mailboxes table: NOTIFY on PostgreSQL, the probe
elsewhere, debounced, surviving a server restart; and the commands that set it up."""

from __future__ import annotations

import math
import time
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.e2e.conftest import cli, wait_until
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.demo import set_active_count

INSTALLED = (
    "change trigger autoscaler_notify_change on public.mailboxes: installed "
    "(NOTIFY autoscaler_change after every INSERT, UPDATE, DELETE or TRUNCATE)"
)


def journal(url: str) -> list[dict[str, Any]]:
    """Every journaled check, oldest first."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT trigger, mailbox_count, action, executed "
                    "FROM autoscaler_checks ORDER BY id"
                )
            )
            return [dict(r._mapping) for r in rows]
    finally:
        engine.dispose()


def change_checks(url: str) -> list[dict[str, Any]]:
    return [r for r in journal(url) if r["trigger"] == "change"]


def set_active(url: str, n: int) -> None:
    """Set the active count from a session that then ends (so PostgreSQL flushes its stats)."""
    db = Database(url)
    try:
        set_active_count(db, n)
    finally:
        db.dispose()


def reacting_env(base_env: dict[str, str], url: str, **extra: str) -> dict[str, str]:
    return dict(
        base_env,
        DATABASE_URL=url,
        AUTO_SCALER_REACT_ON_CHANGE="true",
        AUTO_SCALER_CHECK_INTERVAL_MS="600000",
        AUTO_SCALER_SCALE_UP_COOLDOWN_MS="0",
        **extra,
    )


def start_watching(daemon_factory, env: dict[str, str], mode: str) -> Any:
    """Start the daemon and wait for its startup check and for the watcher in `mode`."""
    daemon = daemon_factory(env).start()
    wait_until(
        lambda: any(
            line.get("event") == "change_watch" and line.get("mode") == mode
            for line in daemon.log_lines()
        ),
        what=f"the watcher in {mode} mode",
    )
    wait_until(lambda: journal(env["DATABASE_URL"]), what="the startup check in the journal")
    return daemon


def test_notify_runs_a_change_check_that_scales(tmp_path, base_env, daemon_factory, postgres_url):
    """db init installs the trigger; a commit brings a `change` check at once (the interval is
    10 minutes) that scales the local fleet to 2 workers."""
    env = reacting_env(base_env, postgres_url)
    done = cli(tmp_path, env, "db", "init", "--demo")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1] == INSTALLED
    daemon = start_watching(daemon_factory, env, "notify")
    set_active(postgres_url, 850)
    checks = wait_until(lambda: change_checks(postgres_url), what="a change check")
    assert checks[0] == {
        "trigger": "change",
        "mailbox_count": 850,
        "action": "scale-up",
        "executed": True,
    }
    wait_until(lambda: len(daemon.workers()) == 2, what="2 worker processes")
    assert daemon.status()["lastDecision"]["trigger"] == "change"
    assert daemon.stop() == 0


def test_a_burst_of_commits_is_debounced(tmp_path, base_env, daemon_factory, postgres_url):
    """50 single-row commits over about 2.5 debounce windows bring at most one change check per
    window (+1 after the window the burst ends in), the last one counting every row."""
    debounce_s = 0.4
    env = reacting_env(
        base_env,
        postgres_url,
        AUTO_SCALER_REACT_DEBOUNCE_MS=str(int(debounce_s * 1000)),
        AUTO_SCALER_PLATFORM="manual",
        AUTO_SCALER_MANUAL_WORKERS="1",
    )
    assert cli(tmp_path, env, "db", "init", "--demo").returncode == 0
    daemon = start_watching(daemon_factory, env, "notify")
    with psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True) as conn:
        first = time.monotonic()
        for i in range(50):
            conn.execute("INSERT INTO mailboxes (email) VALUES (%s)", (f"m{i}@x",))
            time.sleep(0.02)
        span_s = time.monotonic() - first
    wait_until(
        lambda: any(c["mailbox_count"] == 50 for c in change_checks(postgres_url)),
        what="a change check counting all 50",
    )
    assert daemon.stop() == 0  # no change check starts after this; earlier ones are journaled
    checks = change_checks(postgres_url)
    # one per window over the burst, +1 after it; 0.1 s for the last notification's delivery
    bound = math.floor((span_s + 0.1) / debounce_s) + 2
    assert 2 <= len(checks) <= bound, (len(checks), bound, span_s)


def test_listen_is_re_established_after_a_server_restart(
    tmp_path, base_env, daemon_factory, postgres_url, pg_server
):
    """After PostgreSQL restarts, the daemon listens again by itself and reacts to the next
    commit, without being restarted."""
    env = reacting_env(base_env, postgres_url, AUTO_SCALER_PLATFORM="manual")
    assert cli(tmp_path, env, "db", "init", "--demo").returncode == 0
    daemon = start_watching(daemon_factory, env, "notify")
    engine = create_engine(postgres_url, poolclass=NullPool)
    with engine.connect() as conn:  # the test server commits asynchronously: keep the trigger
        conn.execute(text("CHECKPOINT"))
    engine.dispose()
    pg_server.stop()
    pg_server.start()
    wait_until(
        lambda: any(line.get("event") == "change_watch_reconnected" for line in daemon.log_lines()),
        what="the watcher to reconnect",
    )
    set_active(postgres_url, 850)
    wait_until(
        lambda: any(c["mailbox_count"] == 850 for c in change_checks(postgres_url)),
        what="a change check after the restart",
    )
    assert daemon.stop() == 0
    lost = [line for line in daemon.log_lines() if line.get("event") == "change_watch_lost"]
    assert lost and lost[0]["level"] == "warning"


@pytest.mark.parametrize(
    ("url_fixture", "method", "said"),
    [
        (
            "sqlite_url",
            "auto",
            "change trigger: none on SQLite; the daemon probes for changes every 200 ms "
            "(AUTO_SCALER_REACT_PROBE_INTERVAL_MS)",
        ),
        (
            "postgres_url",
            "probe",
            "change trigger: not installed (AUTO_SCALER_REACT_METHOD=probe); the daemon probes "
            "for changes every 200 ms (AUTO_SCALER_REACT_PROBE_INTERVAL_MS)",
        ),
    ],
    ids=["sqlite", "postgresql-without-trigger"],
)
def test_probe_runs_a_change_check(
    request, tmp_path, base_env, daemon_factory, url_fixture, method, said
):
    """Where there is no trigger the probe notices the change and a `change` check scales."""
    url = request.getfixturevalue(url_fixture)
    env = reacting_env(
        base_env,
        url,
        AUTO_SCALER_REACT_METHOD=method,
        AUTO_SCALER_REACT_PROBE_INTERVAL_MS="200",
    )
    done = cli(tmp_path, env, "db", "init", "--demo")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1] == said
    daemon = start_watching(daemon_factory, env, "probe")
    set_active(url, 850)
    checks = wait_until(lambda: change_checks(url), what="a change check")
    assert (checks[0]["mailbox_count"], checks[0]["action"]) == (850, "scale-up")
    wait_until(lambda: len(daemon.workers()) == 2, what="2 worker processes")
    assert daemon.stop() == 0


def test_db_init_and_remove_trigger_commands(tmp_path, base_env, postgres_url):
    """Without the opt-in db init leaves an installed trigger alone and says how to remove it;
    `db remove-trigger` removes it."""
    env = dict(base_env, DATABASE_URL=postgres_url)
    opted_in = dict(env, AUTO_SCALER_REACT_ON_CHANGE="true")
    assert cli(tmp_path, opted_in, "db", "init", "--demo").stdout.splitlines()[1] == INSTALLED
    done = cli(tmp_path, env, "db", "init")
    assert done.stdout.splitlines()[1] == (
        "change trigger autoscaler_notify_change on public.mailboxes: left in place "
        "(AUTO_SCALER_REACT_ON_CHANGE=false); remove it with `warmup-autoscaler db remove-trigger`"
    )
    done = cli(tmp_path, env, "db", "remove-trigger")
    assert (done.returncode, done.stdout) == (
        0,
        "change trigger autoscaler_notify_change on public.mailboxes: removed\n",
    )
    assert cli(tmp_path, env, "db", "init").stdout.count("\n") == 1


def test_bad_reaction_settings_stop_the_daemon_at_start(tmp_path, base_env):
    """Bad reaction settings are refused before anything starts: exit 2, one line each."""
    env = dict(
        base_env,
        AUTO_SCALER_REACT_ON_CHANGE="yes please",
        AUTO_SCALER_REACT_TABLE="public.mail boxes",
        AUTO_SCALER_REACT_DEBOUNCE_MS="10",
        AUTO_SCALER_REACT_PROBE_INTERVAL_MS="never",
    )
    done = cli(tmp_path, env, "run")
    assert done.returncode == 2
    assert sorted(done.stderr.splitlines()) == [
        "config error: AUTO_SCALER_REACT_DEBOUNCE_MS=10: must be a whole number of milliseconds "
        "from 100 to 3600000 (e.g. 1000)",
        "config error: AUTO_SCALER_REACT_ON_CHANGE=yes please: must be true or false",
        "config error: AUTO_SCALER_REACT_PROBE_INTERVAL_MS=never: must be a whole number of "
        "milliseconds from 100 to 3600000 (e.g. 2000)",
        "config error: AUTO_SCALER_REACT_TABLE=public.mail boxes: must be a table name, "
        "optionally schema-qualified: mailboxes or app.mailboxes (letters, digits, _ and $, not "
        'starting with a digit; put other names in double quotes, e.g. app."Mail Boxes")',
    ]


def test_failed_trigger_install_is_one_line_and_exit_1(tmp_path, base_env, postgres_url):
    """db init opted in on a table that does not exist: exit 1 with one line, no traceback."""
    env = dict(
        base_env,
        DATABASE_URL=postgres_url,
        AUTO_SCALER_REACT_ON_CHANGE="true",
        AUTO_SCALER_REACT_TABLE="app.mailboxes",
    )
    done = cli(tmp_path, env, "db", "init")
    assert done.returncode == 1
    assert done.stderr == (
        "error: installing the change trigger failed: table app.mailboxes does not exist; set "
        "AUTO_SCALER_REACT_TABLE to the table AUTO_SCALER_MAILBOX_QUERY counts (or create the "
        "demo table with `warmup-autoscaler db init --demo`)\n"
    )
