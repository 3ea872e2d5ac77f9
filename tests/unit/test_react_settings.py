"""The reaction settings: the watched table's name parsed and quoted, bad values refused clearly."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warmup_autoscaler.config import load_settings
from warmup_autoscaler.config.table_name import TableName, parse_table_name
from warmup_autoscaler.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """Each test starts with no AUTO_SCALER_* variables and an empty working directory."""
    for name in list(os.environ):
        if name.startswith("AUTO_SCALER_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


NAMES = [
    ("mailboxes", None, "mailboxes", '"mailboxes"', "mailboxes"),
    ("  Mailboxes ", None, "mailboxes", '"mailboxes"', "mailboxes"),
    ("app.mailboxes", "app", "mailboxes", '"app"."mailboxes"', "app.mailboxes"),
    ('App."Mail Boxes"', "app", "Mail Boxes", '"app"."Mail Boxes"', 'app."Mail Boxes"'),
    ('"say ""hi"""', None, 'say "hi"', '"say ""hi"""', '"say ""hi"""'),
    ("_t$1", None, "_t$1", '"_t$1"', "_t$1"),
]


@pytest.mark.parametrize(("text", "schema", "name", "sql", "shown"), NAMES)
def test_table_names_parse_fold_and_quote(text, schema, name, sql, shown):
    """Plain parts fold to lower case like PostgreSQL; quoted parts stay exact; SQL is quoted."""
    table = parse_table_name(text)
    assert table == TableName(schema=schema, name=name)
    assert table.sql == sql
    assert str(table) == shown


@pytest.mark.parametrize(
    "text",
    ["", "1table", "a.b.c", "a.", ".a", "a b", 'a"b', '""', "mail;drop table x", "a-b", '"x'],
)
def test_bad_table_names_are_refused(text):
    """Anything but one or two identifiers is refused with what is allowed."""
    with pytest.raises(ValueError, match="must be a table name, optionally schema-qualified"):
        parse_table_name(text)


def test_overlong_table_name_is_refused():
    """A part over PostgreSQL's 63 bytes would be truncated there: refused, with the limit."""
    with pytest.raises(ValueError, match="longer than 63 bytes"):
        parse_table_name("x" * 64)


def test_name_that_is_not_utf8_is_refused():
    """Undecodable bytes in the environment (a lone surrogate) are refused, not a crash."""
    with pytest.raises(ValueError, match="is not valid UTF-8 text"):
        parse_table_name('"\udcff"')


@given(
    st.text(
        alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=15,  # at most 60 bytes of UTF-8: under the 63-byte limit
    )
)
def test_any_quoted_name_round_trips(name):
    """Whatever a quoted name holds, its SQL form parses back to the same name."""
    table = TableName(schema=None, name=name)
    assert parse_table_name(table.sql) == table


BAD = [
    ("AUTO_SCALER_REACT_ON_CHANGE", "sometimes", "must be true or false"),
    ("AUTO_SCALER_REACT_METHOD", "listen", "must be auto (the PostgreSQL trigger where"),
    ("AUTO_SCALER_REACT_TABLE", "a.b.c", "must be a table name, optionally schema-qualified"),
    ("AUTO_SCALER_REACT_DEBOUNCE_MS", "50", "from 100 to 3600000 (e.g. 1000)"),
    ("AUTO_SCALER_REACT_DEBOUNCE_MS", "1s", "from 100 to 3600000 (e.g. 1000)"),
    ("AUTO_SCALER_REACT_PROBE_INTERVAL_MS", "0", "from 100 to 3600000 (e.g. 2000)"),
    ("AUTO_SCALER_REACT_PROBE_INTERVAL_MS", "3600001", "from 100 to 3600000 (e.g. 2000)"),
]


@pytest.mark.parametrize(("name", "value", "allowed"), BAD, ids=[f"{b[0]}={b[1]}" for b in BAD])
def test_bad_reaction_setting_names_variable_value_and_rule(monkeypatch, name, value, allowed):
    """A bad reaction setting gives one line: the variable, its value and what is allowed."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert len(info.value.problems) == 1, info.value.problems
    assert info.value.problems[0].startswith(f"{name}={value}: must be ")
    assert allowed in info.value.problems[0]


def test_every_bad_reaction_setting_is_reported_at_once(monkeypatch):
    """Several bad reaction settings are reported together, one line each."""
    for name, value, _ in BAD[1:4]:
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert sorted(p.split("=", 1)[0] for p in info.value.problems) == [
        "AUTO_SCALER_REACT_DEBOUNCE_MS",
        "AUTO_SCALER_REACT_METHOD",
        "AUTO_SCALER_REACT_TABLE",
    ]


def test_reaction_defaults():
    """Reacting is opt-in; the defaults are the issue's (1 s debounce) and a 2 s probe."""
    s = load_settings().react
    assert s.on_change is False
    assert (s.method, s.table, s.table_name) == (
        "auto",
        "mailboxes",
        TableName(schema=None, name="mailboxes"),
    )
    assert (s.debounce_ms, s.probe_interval_ms) == (1000, 2000)
