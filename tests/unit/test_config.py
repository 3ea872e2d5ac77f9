"""Settings: the seed's names and defaults, `.env` loading, and every bad value reported at once."""

from __future__ import annotations

import pytest

from warmup_autoscaler.config import load_settings
from warmup_autoscaler.errors import ConfigError

CMD = {"AUTO_SCALER_LOCAL_WORKER_COMMAND": "sleep 1000"}


@pytest.fixture(autouse=True)
def worker_command(monkeypatch):
    """A local worker command (tests/conftest.py's `hermetic` clears the rest)."""
    for k, v in CMD.items():
        monkeypatch.setenv(k, v)


def test_seed_defaults():
    """With nothing set, every variable has the seed's default."""
    s = load_settings()
    assert s.daemon.enabled is True
    assert s.daemon.check_interval_ms == 300_000
    assert s.policy.mailboxes_per_worker == 1000
    assert (s.policy.min_workers, s.policy.max_workers) == (1, 100)
    assert (s.policy.scale_up_threshold, s.policy.scale_down_threshold) == (0.8, 0.3)
    assert (s.policy.scale_up_cooldown_ms, s.policy.scale_down_cooldown_ms) == (300_000, 600_000)
    assert s.daemon.platform == "local"
    assert s.policy.scaling_mode == "step" and s.policy.max_step == 10
    assert s.database.database_url == "sqlite:///./warmup.db"
    assert s.database.mailbox_query == "SELECT COUNT(*) FROM mailboxes WHERE status = 'active'"
    assert (s.api.host, s.api.port) == ("127.0.0.1", 3001)


SEED_ENV = """\
# Enable/disable auto-scaling
AUTO_SCALER_ENABLED=true

# Check interval (how often to check)
AUTO_SCALER_CHECK_INTERVAL_MS=300000  # 5 minutes

# Mailboxes per worker
AUTO_SCALER_MAILBOXES_PER_WORKER=1000

# Min/max workers
AUTO_SCALER_MIN_WORKERS=1
AUTO_SCALER_MAX_WORKERS=100

# Scaling thresholds
AUTO_SCALER_SCALE_UP_THRESHOLD=0.7    # 70%
AUTO_SCALER_SCALE_DOWN_THRESHOLD=0.3  # 30%
AUTO_SCALER_SCALE_UP_COOLDOWN_MS=180000   # 3 min cooldown
AUTO_SCALER_SCALE_DOWN_COOLDOWN_MS=300000  # 5 min cooldown
AUTO_SCALER_PLATFORM=manual
"""


def test_seed_env_file_as_written(tmp_path):
    """The seed's `.env` block, inline comments included, loads as written."""
    (tmp_path / ".env").write_text(SEED_ENV)
    s = load_settings()
    assert s.policy.scale_up_threshold == 0.7
    assert s.daemon.check_interval_ms == 300_000
    assert s.policy.scale_up_cooldown_ms == 180_000
    assert s.daemon.platform == "manual"


def test_environment_wins_over_env_file(tmp_path, monkeypatch):
    """A variable set in the environment overrides the same one in `.env`."""
    (tmp_path / ".env").write_text("AUTO_SCALER_MAX_WORKERS=7\n")
    monkeypatch.setenv("AUTO_SCALER_MAX_WORKERS", "9")
    assert load_settings().policy.max_workers == 9


BAD = [
    (
        "AUTO_SCALER_CHECK_INTERVAL_MS",
        "abc",
        "must be a whole number of milliseconds greater than 0",
    ),
    (
        "AUTO_SCALER_CHECK_INTERVAL_MS",
        "-5",
        "must be a whole number of milliseconds greater than 0",
    ),
    ("AUTO_SCALER_SCALE_UP_COOLDOWN_MS", "-1", "0 or more"),
    ("AUTO_SCALER_SCALE_DOWN_COOLDOWN_MS", "ten", "0 or more"),
    ("AUTO_SCALER_SCALE_UP_THRESHOLD", "1.5", "greater than 0 and at most 1"),
    ("AUTO_SCALER_SCALE_UP_THRESHOLD", "0", "greater than 0 and at most 1"),
    (
        "AUTO_SCALER_SCALE_DOWN_THRESHOLD",
        "0.9",
        "must be below AUTO_SCALER_SCALE_UP_THRESHOLD (0.8)",
    ),
    ("AUTO_SCALER_MIN_WORKERS", "200", "must be at most AUTO_SCALER_MAX_WORKERS (100)"),
    ("AUTO_SCALER_MAX_WORKERS", "0", "at least 1"),
    ("AUTO_SCALER_MAILBOXES_PER_WORKER", "1e3x", "at least 1"),
    ("AUTO_SCALER_ENABLED", "maybe", "true or false"),
    ("AUTO_SCALER_PLATFORM", "nomad", "must be one of local, manual"),
    ("AUTO_SCALER_SCALING_MODE", "jump", "step, target or tracking"),
    ("AUTO_SCALER_MAX_STEP", "0", "at least 1"),
    ("AUTO_SCALER_API_PORT", "70000", "from 1 to 65535"),
    ("AUTO_SCALER_MAILBOX_QUERY", "DELETE FROM mailboxes", "must be a SELECT"),
    ("AUTO_SCALER_MAILBOX_QUERY", "SELECT 1; SELECT 2", "single SQL statement"),
    ("AUTO_SCALER_MAILBOX_QUERY", "  ", "returning one number"),
    ("DATABASE_URL", "mysql://x@y/z", "sqlite:/// or postgresql+psycopg://"),
    ("DATABASE_URL", "not a url", "is not a database URL"),
    ("AUTO_SCALER_LOCAL_WORKER_COMMAND", "python 'unclosed", "check its quotes"),
    ("AUTO_SCALER_LEADER_LEASE_MS", "999", "milliseconds from 1000 to 600000 (e.g. 15000)"),
    ("AUTO_SCALER_LEADER_LEASE_MS", "600001", "milliseconds from 1000 to 600000 (e.g. 15000)"),
]


@pytest.mark.parametrize(("name", "value", "allowed"), BAD, ids=[f"{b[0]}={b[1]}" for b in BAD])
def test_each_bad_value_names_variable_value_and_rule(monkeypatch, name, value, allowed):
    """A bad value gives exactly one line naming the variable, its value and what is allowed."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert len(info.value.problems) == 1, info.value.problems
    line = info.value.problems[0]
    assert line.startswith(f"{name}=")
    assert value.strip() in line
    assert allowed in line


def test_every_problem_is_reported_at_once(monkeypatch):
    """Several bad variables give one line each, in one error, cross-field checks included."""
    monkeypatch.setenv("AUTO_SCALER_CHECK_INTERVAL_MS", "soon")
    monkeypatch.setenv("AUTO_SCALER_MAX_WORKERS", "-3")
    monkeypatch.setenv("AUTO_SCALER_SCALE_DOWN_THRESHOLD", "0.95")
    monkeypatch.setenv("AUTO_SCALER_PLATFORM", "nomad")
    with pytest.raises(ConfigError) as info:
        load_settings()
    names = sorted(p.split("=", 1)[0] for p in info.value.problems)
    assert names == [
        "AUTO_SCALER_CHECK_INTERVAL_MS",
        "AUTO_SCALER_MAX_WORKERS",
        "AUTO_SCALER_PLATFORM",
        "AUTO_SCALER_SCALE_DOWN_THRESHOLD",
    ]


def test_postgres_urls_use_psycopg3(monkeypatch):
    """postgres:// and postgresql:// URLs are mapped to the psycopg 3 driver."""
    monkeypatch.setenv("DATABASE_URL", "postgres://u:secret@db:5432/warmup")
    s = load_settings()
    assert s.database.sqlalchemy_url == "postgresql+psycopg://u:secret@db:5432/warmup"
    assert "secret" not in str(s.public_dict())


def test_secrets_are_masked(monkeypatch):
    """The admin token never appears in the public view of the settings."""
    monkeypatch.setenv("AUTO_SCALER_ADMIN_TOKEN", "hunter2-hunter2-hunter2")
    public = load_settings().public_dict()
    assert public["AUTO_SCALER_ADMIN_TOKEN"] == "********"
    assert "hunter2" not in str(public)


SECRET_URLS = [
    (
        "postgresql+psycopg2://u:TopSecret9@h/db",
        "DATABASE_URL=postgresql+psycopg2://u:***@h/db: must use the psycopg 3 driver",
    ),
    ("mysql://u:TopSecret9@h/db", "DATABASE_URL=mysql://u:***@h/db: must be a sqlite:///"),
    (
        "postgresql://u:TopSecret9@h:notaport/db",
        "DATABASE_URL=postgresql://u:***@h:notaport/db: is not a valid database URL: its port "
        "must be a number",
    ),
    (
        "postgresql://u:TopSecret9@[::1:55432/db",
        "DATABASE_URL=postgresql://u:***@[::1:55432/db: is not a valid database URL",
    ),
]


@pytest.mark.parametrize(("url", "line"), SECRET_URLS)
def test_a_refused_database_url_never_shows_its_password(monkeypatch, url, line):
    """A wrong driver or a malformed URL is one config error line, its password hidden."""
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(ConfigError) as info:
        load_settings()
    [problem] = info.value.problems
    assert problem.startswith(line)
    assert "TopSecret9" not in problem


TOKENS = [
    ("CHANGE-ME", "is a placeholder from an example, not a secret"),
    ("changeme", "is a placeholder from an example, not a secret"),
    ("your_admin_token", "is a placeholder from an example, not a secret"),
    ("YOUR_ADMIN_TOKEN", "is a placeholder from an example, not a secret"),
    ("CHANGE-ME-to-a-long-random-value", "is a placeholder from an example, not a secret"),
    ("s3cret", "is 6 characters long, too short to be a secret"),
    ("fifteen-chars-x", "is 15 characters long, too short to be a secret"),
]


@pytest.mark.parametrize(("token", "why"), TOKENS)
def test_placeholder_and_short_admin_tokens_are_refused(monkeypatch, token, why):
    """A placeholder or a token under 16 characters is one line naming the variable, masked."""
    monkeypatch.setenv("AUTO_SCALER_ADMIN_TOKEN", token)
    with pytest.raises(ConfigError) as info:
        load_settings()
    [problem] = info.value.problems
    assert problem.startswith(f"AUTO_SCALER_ADMIN_TOKEN=********: {why}: set a random token")
    assert token not in problem


@pytest.mark.parametrize("token", ["", "0123456789abcdef", "a" * 64])
def test_an_empty_or_long_enough_admin_token_is_accepted(monkeypatch, token):
    """Empty disables the admin endpoints; 16 characters or more is a token."""
    monkeypatch.setenv("AUTO_SCALER_ADMIN_TOKEN", token)
    assert load_settings().api.admin_token.get_secret_value() == token


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("", "is empty (it would listen on every interface)"),
        ("  ", "is empty (it would listen on every interface)"),
        ("0", "is a shorthand address (0 would listen on every interface)"),
        ("127.1", "is a shorthand address (0 would listen on every interface)"),
        ("my host", "is neither an IP address nor a host name"),
    ],
)
def test_an_empty_or_shorthand_api_host_is_refused(monkeypatch, host, why):
    """AUTO_SCALER_API_HOST= or 0 would listen on every interface: refused, naming the choices."""
    monkeypatch.setenv("AUTO_SCALER_API_HOST", host)
    with pytest.raises(ConfigError) as info:
        load_settings()
    [problem] = info.value.problems
    assert problem == (
        f"AUTO_SCALER_API_HOST={host}: {why}; must be an IP address or a host name to listen on, "
        "e.g. 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)"
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "::", "::1", "localhost", "api.internal"])
def test_addresses_and_host_names_are_accepted(monkeypatch, host):
    """IPv4 and IPv6 addresses and host names are accepted as they are."""
    monkeypatch.setenv("AUTO_SCALER_API_HOST", host)
    assert load_settings().api.host == host


@pytest.mark.parametrize(
    ("up", "down", "warns"),
    [("0.7", "0.4", True), ("0.8", "0.3", False), ("0.9", "0.2", False), ("0.6", "0.3", True)],
)
def test_flap_warning(monkeypatch, up, down, warns):
    """Thresholds with up <= 2 x down are flagged as flap-prone; the seed's defaults are not."""
    monkeypatch.setenv("AUTO_SCALER_SCALE_UP_THRESHOLD", up)
    monkeypatch.setenv("AUTO_SCALER_SCALE_DOWN_THRESHOLD", down)
    warning = load_settings().policy.flap_warning()
    assert (warning is not None) == warns
    if warns:
        assert f"AUTO_SCALER_SCALE_UP_THRESHOLD={up}" in warning
