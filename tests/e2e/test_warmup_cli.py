"""`warmup-autoscaler mailbox ...` and the warmup worker as a user runs them: import checked
line by line, passwords never shown, a missing or wrong AUTO_SCALER_SECRET_KEY refused at start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import cli
from tests.support.mail import MailServers
from warmup_autoscaler.warmup.secrets import generate_key

HEADER = "mailbox_id,email,password,smtp_host,smtp_port,smtp_security,imap_host,imap_port,imap_security,reply_rate,timezone\n"


@pytest.fixture
def env(tmp_path: Path, base_env: dict[str, str]) -> dict[str, str]:
    env = dict(base_env, DATABASE_URL=f"sqlite:///{tmp_path / 'warmup.db'}",
               AUTO_SCALER_SECRET_KEY=generate_key())  # fmt: skip
    assert cli(tmp_path, env, "db", "init", "--demo").returncode == 0
    return env


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body)
    return path


def test_import_with_bad_rows_names_each_line_and_imports_nothing(tmp_path, env):
    """Three bad rows among good ones: each line is named with what is wrong, exit 1, and the
    good rows are not imported either."""
    path = write(tmp_path, "pool.csv", (
        "1,a@alpha.test,secret-a,127.0.0.1,2525,none,127.0.0.1,1143,none,0.3,UTC\n"
        "2,not-an-address,secret-b,smtp.example.com,587,starttls,imap.example.com,993,ssl,0.3,UTC\n"
        "3,c@alpha.test,secret-c,smtp.example.com,587,none,imap.example.com,993,ssl,1.5,Mars/Base\n"
        "4,a@alpha.test,secret-d,smtp.example.com,587,starttls,imap.example.com,993,ssl,0.3,UTC\n"
    ))  # fmt: skip
    done = cli(tmp_path, env, "mailbox", "import", str(path))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: line 3: email=not-an-address: must be an address like name@example.com",
        "error: line 4: smtp_security=none: only allowed for a loopback host (127.0.0.1, ::1, "
        "localhost), not smtp.example.com; use ssl or starttls",
        "error: line 4: reply_rate=1.5: must be a number from 0 to 1 (e.g. 0.3)",
        "error: line 4: timezone=Mars/Base: must be an IANA time zone (e.g. Europe/Paris, UTC)",
        "error: line 5: email a@alpha.test is already on line 2",
        f"error: nothing imported from {path}",
    ]
    listed = cli(tmp_path, env, "mailbox", "list", "--json")
    assert json.loads(listed.stdout)["mailboxes"] == []
    for secret in ("secret-a", "secret-b", "secret-c", "secret-d"):
        assert secret not in done.stdout + done.stderr


def test_import_add_list_show_never_print_a_password(tmp_path, env, mail_servers: MailServers):
    """Good rows import; list, show and test print settings and results, never a password, and
    the database file holds none in plaintext."""
    mail_servers.dovecot.add_users([("cli1@alpha-cli.test", "pw-cli-one"),
                                    ("cli2@beta-cli.test", "pw-cli-two")])  # fmt: skip
    path = write(tmp_path, "pool.csv", (
        f"1,cli1@alpha-cli.test,pw-cli-one,127.0.0.1,{mail_servers.smtp_port},none,127.0.0.1,"
        f"{mail_servers.imap_port},none,0.3,UTC\n"
    ))  # fmt: skip
    done = cli(tmp_path, env, "mailbox", "import", str(path))
    assert (done.returncode, done.stdout.strip()) == (0, f"imported 1 mailboxes from {path}")
    add_env = dict(env, WARMUP_MAILBOX_PASSWORD="pw-cli-wrong")
    added = cli(tmp_path, add_env, "mailbox", "add", "--mailbox-id", "2", "--email",
                "cli2@beta-cli.test", "--smtp-host", "127.0.0.1", "--smtp-port",
                str(mail_servers.smtp_port), "--smtp-security", "none", "--imap-host",
                "127.0.0.1", "--imap-port", str(mail_servers.imap_port), "--imap-security", "none")  # fmt: skip
    assert (added.returncode, added.stdout.strip()) == (
        0, "added mailbox 2 (cli2@beta-cli.test) to the warmup pool")  # fmt: skip
    ok = cli(tmp_path, env, "mailbox", "test", "1")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines() == [
        f"smtp: ok (127.0.0.1:{mail_servers.smtp_port}, none, logged in as cli1@alpha-cli.test)",
        f"imap: ok (127.0.0.1:{mail_servers.imap_port}, none, logged in as cli1@alpha-cli.test)",
    ]
    bad = cli(tmp_path, env, "mailbox", "test", "2")
    assert bad.returncode == 1
    assert bad.stdout.splitlines()[0] == (
        f"smtp: FAILED (auth): SMTP 127.0.0.1:{mail_servers.smtp_port} refused the login of "
        "cli2@beta-cli.test: 535 5.7.8 Authentication credentials invalid"
    )
    assert bad.stdout.splitlines()[1].startswith(
        f"imap: FAILED (auth): IMAP 127.0.0.1:{mail_servers.imap_port} refused the login of "
        "cli2@beta-cli.test: [AUTHENTICATIONFAILED]"
    )
    outputs = [done, added, ok, bad]
    outputs.append(cli(tmp_path, env, "mailbox", "list"))
    outputs.append(cli(tmp_path, env, "mailbox", "list", "--json"))
    outputs.append(cli(tmp_path, env, "mailbox", "show", "2", "--json"))
    outputs.append(cli(tmp_path, env, "mailbox", "show", "1"))
    assert all(o.returncode in (0, 1) for o in outputs)
    assert json.loads(outputs[-2].stdout)["smtp"] == {
        "host": "127.0.0.1", "port": mail_servers.smtp_port, "security": "none",
        "username": "cli2@beta-cli.test",
    }  # fmt: skip
    raw_db = (tmp_path / "warmup.db").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("warmup.db-*")
    )
    for password in ("pw-cli-one", "pw-cli-wrong"):
        assert all(password not in o.stdout + o.stderr for o in outputs)
        assert password.encode() not in raw_db


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (
            None,
            "config error: AUTO_SCALER_SECRET_KEY=(unset): is required to encrypt and decrypt "
            "the mailbox passwords; make one with `warmup-autoscaler mailbox keygen` and keep it safe",
        ),
        (
            "not-a-key",
            "config error: AUTO_SCALER_SECRET_KEY=********: must be a Fernet key (44 "
            "characters of URL-safe base64; make one with `warmup-autoscaler mailbox "
            "keygen`), or several separated by commas (the first encrypts) (it is not "
            "a valid Fernet key)",
        ),
        (
            "other",
            "config error: AUTO_SCALER_SECRET_KEY=********: does not decrypt the stored "
            "mailbox passwords; use the key they were encrypted with (list the old key "
            "after a new one, comma-separated, to rotate)",
        ),
    ],
    ids=["missing", "malformed", "wrong"],
)
def test_the_worker_refuses_a_missing_or_wrong_key_at_start(tmp_path, env, key, message):
    """The warmup worker exits 2 with one line, before it registers, for a bad key."""
    path = write(tmp_path, "pool.csv",
                 "1,k@alpha.test,pw-k,127.0.0.1,25,none,127.0.0.1,143,none,0.3,UTC\n")  # fmt: skip
    assert cli(tmp_path, env, "mailbox", "import", str(path)).returncode == 0
    worker_env = dict(env, AUTO_SCALER_WORKER_JOB="warmup")
    worker_env.pop("AUTO_SCALER_SECRET_KEY")
    if key == "other":
        worker_env["AUTO_SCALER_SECRET_KEY"] = generate_key()
    elif key is not None:
        worker_env["AUTO_SCALER_SECRET_KEY"] = key
    done = subprocess.run([sys.executable, "-m", "warmup_autoscaler", "worker"], cwd=tmp_path,
                          env=worker_env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert (done.returncode, done.stderr.strip()) == (2, message)
    if key == "other":
        listed = cli(tmp_path, worker_env, "mailbox", "import", str(path))
        assert listed.returncode == 2
        assert listed.stderr.strip() == message
