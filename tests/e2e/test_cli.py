"""The CLI as a user runs it: exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import cli, free_port

BAD_SETTINGS = [
    ("AUTO_SCALER_CHECK_INTERVAL_MS", "-1"),
    ("AUTO_SCALER_SCALE_UP_THRESHOLD", "80"),
    ("AUTO_SCALER_SCALE_DOWN_THRESHOLD", "0.9"),
    ("AUTO_SCALER_MIN_WORKERS", "500"),
    ("AUTO_SCALER_MAX_WORKERS", "0"),
    ("AUTO_SCALER_MAILBOXES_PER_WORKER", "lots"),
    ("AUTO_SCALER_PLATFORM", "nomad"),
    ("AUTO_SCALER_MAILBOX_QUERY", "DROP TABLE mailboxes"),
    ("AUTO_SCALER_ENABLED", "yesplease"),
]


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS, ids=[b[0] for b in BAD_SETTINGS])
def test_run_refuses_each_bad_setting_with_exit_2(tmp_path, base_env, name, value):
    """`run` with a bad setting exits 2 with a line naming the variable and no traceback."""
    done = cli(tmp_path, dict(base_env, **{name: value}), "run")
    assert done.returncode == 2
    assert f"config error: {name}={value}" in done.stderr
    assert "Traceback" not in done.stderr


def test_all_bad_settings_reported_together(tmp_path, base_env):
    """Several bad settings in `.env` are all reported in one go, one line each.

    Checks against another variable (down < up, min <= max) are skipped when that other variable
    is itself invalid: they cannot be judged, and the other variable's line already says why.
    """
    (tmp_path / ".env").write_text("".join(f"{n}={v}\n" for n, v in BAD_SETTINGS))
    done = cli(tmp_path, base_env, "run")
    assert done.returncode == 2
    named = {line.split(": ", 1)[1].split("=", 1)[0] for line in done.stderr.strip().splitlines()}
    dependent = {"AUTO_SCALER_SCALE_DOWN_THRESHOLD", "AUTO_SCALER_MIN_WORKERS"}
    assert named == {name for name, _ in BAD_SETTINGS} - dependent


def test_usage_error_exits_2(tmp_path, base_env):
    """A bad argument is a usage error: exit 2."""
    done = cli(tmp_path, base_env, "decide", "--mailboxes", "-5", "--workers", "1")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


def test_status_without_daemon_is_one_line_exit_1(tmp_path, base_env):
    """`status` with no daemon running exits 1 with one line saying what to check."""
    env = dict(base_env, AUTO_SCALER_API_PORT=str(free_port()))
    done = cli(tmp_path, env, "status")
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot reach the auto-scaler at http://127.0.0.1:")
    assert len(done.stderr.strip().splitlines()) == 1


def test_decide_prints_the_engines_decision(tmp_path, base_env):
    """`decide` prints the decision under the effective config without touching anything."""
    done = cli(tmp_path, base_env, "decide", "--mailboxes", "850", "--workers", "1")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["action"] == "scale-up"
    assert body["reason"] == "High utilization (85.0%) - adding worker"
    held = json.loads(
        cli(
            tmp_path,
            base_env,
            "decide",
            "--mailboxes",
            "3200",
            "--workers",
            "4",
            "--seconds-since-scale-up",
            "60",
        ).stdout
    )
    assert held["action"] == "no-change"
    assert held["reason"] == "High utilization (80.0%) but scale-up cooldown has 240s left"
    assert not (tmp_path / "warmup.db").exists()


def test_config_masks_secrets_and_warns_on_flap_prone_pair(tmp_path, base_env):
    """`config` masks the token and warns about the seed's aggressive profile (0.7 / 0.4)."""
    env = dict(
        base_env,
        AUTO_SCALER_SCALE_UP_THRESHOLD="0.7",
        AUTO_SCALER_SCALE_DOWN_THRESHOLD="0.4",
        DATABASE_URL="postgresql://scaler:pa55word@db:5432/warmup",
    )
    done = cli(tmp_path, env, "config", "--json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["settings"]["AUTO_SCALER_ADMIN_TOKEN"] == "********"
    assert "pa55word" not in done.stdout and "e2e-admin-token" not in done.stdout
    flap, unchecked = body["warnings"]  # the database host `db` does not exist here
    assert "AUTO_SCALER_SCALE_UP_THRESHOLD=0.7" in flap
    assert unchecked.startswith("could not run the mailbox query to check it: ")
    assert body["mailboxCount"] is None


def test_db_init_and_seed(tmp_path, base_env, database_url):
    """`db init --demo` then `db seed` fill the demo table; `--if-empty` does not seed twice."""
    env = dict(base_env, DATABASE_URL=database_url)
    assert cli(tmp_path, env, "db", "init", "--demo").returncode == 0
    done = cli(tmp_path, env, "db", "seed", "--mailboxes", "1200", "--if-empty")
    assert done.stdout.strip() == "added 1200 mailboxes with status 'active'"
    again = cli(tmp_path, env, "db", "seed", "--mailboxes", "5", "--if-empty")
    assert "already has 1200 mailboxes" in again.stdout
    paused = cli(tmp_path, env, "db", "seed", "--mailboxes", "5", "--status", "paused")
    assert paused.returncode == 0


def test_missing_table_is_a_clear_runtime_error(tmp_path, base_env, sqlite_url):
    """`db seed` before `db init --demo` exits 1 saying which command creates the table."""
    done = cli(tmp_path, dict(base_env, DATABASE_URL=sqlite_url), "db", "seed", "--mailboxes", "3")
    assert done.returncode == 1
    assert "db init --demo" in done.stderr
    assert "Traceback" not in done.stderr


def test_history_command_table_json_csv(tmp_path, base_env, database_url):
    """`history` prints the journal newest first as a table, JSON or CSV, filtered by action."""
    import csv
    import io

    env = dict(base_env, DATABASE_URL=database_url, AUTO_SCALER_PLATFORM="manual")
    assert cli(tmp_path, env, "db", "init", "--demo").returncode == 0
    empty = cli(tmp_path, env, "history", "--csv")
    assert empty.returncode == 0 and empty.stdout.startswith("id,checkedAt,")
    assert cli(tmp_path, env, "db", "seed", "--mailboxes", "850").returncode == 0
    from datetime import UTC, datetime, timedelta

    from warmup_autoscaler.store.database import Database
    from warmup_autoscaler.store.state import CheckRecord, StateStore

    db = Database(database_url)
    store, t0 = StateStore(db), datetime(2026, 5, 1, tzinfo=UTC)
    for i, (action, n, target) in enumerate(
        [("no-change", 1, 1), ("scale-up", 1, 2), ("no-change", 2, 2)]
    ):
        store.record_check(
            CheckRecord(
                checked_at=t0 + timedelta(minutes=5 * i),
                trigger="interval",
                action=action,
                current_workers=n,
                target_workers=target,
                mailbox_count=850,
                reason=f"r{i}",
                executed=action != "no-change",
            )
        )
    db.dispose()
    as_json = json.loads(cli(tmp_path, env, "history", "--json").stdout)
    assert [i["reason"] for i in as_json] == ["r2", "r1", "r0"]
    ups = json.loads(cli(tmp_path, env, "history", "--json", "--action", "scale-up").stdout)
    assert [(i["currentWorkers"], i["targetWorkers"], i["executed"]) for i in ups] == [(1, 2, True)]
    rows = list(
        csv.DictReader(io.StringIO(cli(tmp_path, env, "history", "--csv", "--limit", "2").stdout))
    )
    assert [r["reason"] for r in rows] == ["r2", "r1"]
    since = json.loads(
        cli(tmp_path, env, "history", "--json", "--since", "2026-05-01T00:04:00").stdout
    )
    assert [i["reason"] for i in since] == ["r2", "r1"]
    table = cli(tmp_path, env, "history")
    assert table.returncode == 0 and "scale-up" in table.stdout and "1 -> 2" in table.stdout
    bad = cli(tmp_path, env, "history", "--action", "explode")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    far = cli(tmp_path, env, "history", "--since", "0001-01-01T00:00:00+14:00")
    assert far.returncode == 2 and "must be a time between 0001-01-01 and 9999-12-31" in far.stderr


@pytest.mark.parametrize("command", ["trigger", "status"])
@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        ("AUTO_SCALER_API_PORT", "abc", "config error: AUTO_SCALER_API_PORT=abc: must be a whole"),
        ("AUTO_SCALER_API_HOST", "", "config error: AUTO_SCALER_API_HOST=: is empty"),
        ("AUTO_SCALER_ADMIN_TOKEN", "CHANGE-ME", "config error: AUTO_SCALER_ADMIN_TOKEN=********"),
    ],
)
def test_talking_to_the_daemon_with_a_bad_setting_is_a_config_error(
    tmp_path, base_env, command, name, value, line
):
    """`trigger` and `status` validate the API settings: exit 2, one line, no traceback."""
    done = cli(tmp_path, dict(base_env, **{name: value}), command)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith(line) and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg2://u:TopSecret9@h/db",
        "mysql://u:TopSecret9@h/db",
        "postgresql://u:TopSecret9@h:notaport/db",
        "postgresql://u:TopSecret9@[::1:55432/db",
    ],
)
def test_config_with_a_refused_database_url_hides_its_password(tmp_path, base_env, url):
    """`config` with a wrong driver or a malformed URL: one line, exit 2, no password, no traceback."""
    done = cli(tmp_path, dict(base_env, DATABASE_URL=url), "config")
    assert done.returncode == 2
    assert done.stderr.startswith("config error: DATABASE_URL=") and ":***@" in done.stderr
    assert "TopSecret9" not in done.stderr + done.stdout and "Traceback" not in done.stderr


WRONG_RESULTS = [
    ("SELECT 'many'", "it returned 'many' (text), which is not a whole number"),
    ("SELECT COUNT(*), 1 FROM mailboxes", "it returned 2 columns"),
    ("SELECT id FROM mailboxes", "it returned more than one row"),
]


@pytest.mark.parametrize("command", ["config", "run"])
@pytest.mark.parametrize(("query", "returned"), WRONG_RESULTS, ids=["text", "2 columns", "rows"])
def test_a_query_whose_result_is_not_a_count_is_refused(
    tmp_path, base_env, sqlite_url, command, query, returned
):
    """`config` and `run` run the mailbox query once: a result that is not one whole number is a
    config error naming the query and what it returned; `run` starts nothing."""
    env = dict(base_env, DATABASE_URL=sqlite_url, AUTO_SCALER_MAILBOX_QUERY=query)
    assert cli(tmp_path, env, "db", "init", "--demo").returncode == 0
    assert cli(tmp_path, env, "db", "seed", "--mailboxes", "3").returncode == 0
    done = cli(tmp_path, env, command)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"config error: AUTO_SCALER_MAILBOX_QUERY={query}: must return one row with one column, "
        f"a whole number of 0 or more; {returned}"
    )


def test_config_checks_the_query_and_reports_its_count(tmp_path, base_env, sqlite_url):
    """`config` runs the query once: it says the count, or warns when the query cannot run yet."""
    env = dict(base_env, DATABASE_URL=sqlite_url)
    missing = cli(tmp_path, env, "config", "--json")
    assert missing.returncode == 0, missing.stderr
    body = json.loads(missing.stdout)
    assert body["mailboxCount"] is None
    assert any("table 'mailboxes' does not exist" in w for w in body["warnings"])
    assert cli(tmp_path, env, "db", "init", "--demo").returncode == 0
    assert cli(tmp_path, env, "db", "seed", "--mailboxes", "7").returncode == 0
    done = cli(tmp_path, env, "config")
    assert done.returncode == 0 and "the mailbox query returns 7 now" in done.stderr
