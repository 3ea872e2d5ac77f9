"""Pure parts of the warmup job: account checks, safety stops, partners, messages, keys."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest

from tests.support.settings import make_settings
from warmup_autoscaler.errors import ConfigError
from warmup_autoscaler.warmup.accounts import parse_account
from warmup_autoscaler.warmup.compose import HEADER, compose, compose_reply
from warmup_autoscaler.warmup.errors import AccountError, MailFailure
from warmup_autoscaler.warmup.imap import find_junk, parse_list_line
from warmup_autoscaler.warmup.partners import Partner, pick_partner
from warmup_autoscaler.warmup.safety import SafetyLimits, after_failure, bounce_stop
from warmup_autoscaler.warmup.secrets import SecretBox, WrongKeyError, generate_key

TODAY = date(2026, 11, 29)
GOOD = {"mailbox_id": "7", "email": "ann@example.com", "password": "s3cret",
        "smtp_host": "smtp.example.com", "imap_host": "imap.example.com"}  # fmt: skip


def test_an_account_gets_its_defaults():
    """Only id, email, password and hosts are needed: STARTTLS 587, IMAPS 993, 2 -> 40 by 2."""
    a = parse_account(GOOD, today=TODAY)
    assert (a.smtp_port, a.smtp_security, a.imap_port, a.imap_security) == (
        587,
        "starttls",
        993,
        "ssl",
    )
    assert (a.start_volume, a.target_volume, a.ramp_per_day, a.reply_rate) == (2, 40, 2, 0.3)
    assert (a.smtp_username, a.started_on, a.enabled) == ("ann@example.com", "2026-11-29", True)
    assert "s3cret" not in repr(a)


def test_every_problem_of_an_account_is_reported_at_once():
    """Each bad field is named with what is allowed."""
    bad = {**GOOD, "mailbox_id": "x", "smtp_port": "70000", "imap_security": "tls",
           "start_volume": "50", "target_volume": "10", "window_start": "18", "window_end": "9",
           "enabled": "maybe", "password": ""}  # fmt: skip
    with pytest.raises(AccountError) as caught:
        parse_account(bad, today=TODAY)
    assert caught.value.problems == [
        "mailbox_id=x: must be the mailbox's id, a whole number >= 1",
        "smtp_port=70000: must be a port from 1 to 65535",
        "smtp_password (or password) is required",
        "imap_security=tls: must be one of ssl, starttls, none",
        "imap_password (or password) is required",
        "target_volume=10: must be at least start_volume (50)",
        "window_end=9: must be after window_start (18)",
        "enabled=maybe: must be true or false",
    ]


@pytest.mark.parametrize(
    ("kind", "auth", "conn", "expected"),
    [
        (MailFailure.AUTH, 0, 0, (1, 0, 60_000, None)),
        (MailFailure.AUTH, 1, 0, (2, 0, 120_000, None)),
        (MailFailure.AUTH, 2, 0, (3, 0, 240_000, "safety stop: login refused 3 times in a row "
                                  "(limit AUTO_SCALER_WARMUP_AUTH_FAILURE_LIMIT=3); last: boom")),
        (MailFailure.CONNECT, 0, 4, (0, 5, 960_000, "safety stop: mail server failed 5 times in a "
                                     "row (limit AUTO_SCALER_WARMUP_CONNECT_FAILURE_LIMIT=5); "
                                     "last: boom")),
        (MailFailure.TEMPORARY, 0, 11, (0, 12, 3_600_000, "safety stop: mail server failed 12 "
                                        "times in a row (limit AUTO_SCALER_WARMUP_CONNECT_FAILURE"
                                        "_LIMIT=5); last: boom")),
    ],
)  # fmt: skip
def test_failures_back_off_exponentially_then_pause(kind, auth, conn, expected):
    """The backoff doubles per failure in a row (capped at 1 h); the limit pauses with a reason."""
    u = after_failure(
        kind, "boom", auth_failures=auth, connect_failures=conn, limits=SafetyLimits()
    )
    assert (u.auth_failures, u.connect_failures, u.retry_in_ms, u.pause_reason) == expected


@pytest.mark.parametrize(
    ("sent", "bounced", "reason"),
    [(9, 9, None), (10, 1, None), (10, 2, "safety stop: bounce rate 20% (2 of 10 messages in 24 h) "
     "above the limit AUTO_SCALER_WARMUP_BOUNCE_RATE_LIMIT=0.1")],
)  # fmt: skip
def test_bounce_stop_needs_enough_sends_and_a_rate_over_the_limit(sent, bounced, reason):
    """Below the minimum sends nothing stops; at or under the rate nothing stops."""
    assert bounce_stop(sent=sent, bounced=bounced, limits=SafetyLimits()) == reason


def test_partners_spread_over_pairs_and_domains_and_never_self():
    """The least-written partner first, other domains before one's own, never oneself."""
    me = Partner(mailbox_id=1, email="a@one.test")
    pool = [me, Partner(mailbox_id=2, email="b@one.test"), Partner(mailbox_id=3, email="c@two.test"),
            Partner(mailbox_id=4, email="d@two.test")]  # fmt: skip
    rng = random.Random(1)
    picks = []
    pairs: dict[int, int] = {}
    for _ in range(9):
        p = pick_partner(me, pool, pair_counts=pairs, domain_counts={}, rng=rng)
        assert p is not None
        picks.append(p.mailbox_id)
        pairs[p.mailbox_id] = pairs.get(p.mailbox_id, 0) + 1
    assert 1 not in picks and sorted(picks.count(m) for m in (2, 3, 4)) == [3, 3, 3]
    assert set(picks[:2]) == {3, 4}
    assert pick_partner(me, [me], pair_counts={}, domain_counts={}, rng=rng) is None


def test_messages_are_stable_per_key_marked_and_threaded():
    """The same key gives the same message and Message-ID; replies thread with In-Reply-To and
    References; every message carries the pool header."""
    when = datetime(2026, 11, 29, 10, tzinfo=UTC)
    a = compose(key="1:2026-11-29:0", sender="ann@one.test", recipient="bob@two.test", when=when)
    b = compose(key="1:2026-11-29:0", sender="ann@one.test", recipient="bob@two.test", when=when)
    assert a.message.as_string() == b.message.as_string()
    assert a.message_id.endswith("@one.test>") and a.message[HEADER]
    r = compose_reply(key="2:reply:x", sender="bob@two.test", recipient="ann@one.test", when=when,
                      original_id=a.message_id, original_subject=a.subject,
                      original_references="")  # fmt: skip
    assert r.message["In-Reply-To"] == a.message_id == r.message["References"]
    assert r.subject == f"Re: {a.subject}"


def test_the_junk_folder_is_found_by_flag_or_name():
    """\\Junk special-use first, then common names."""
    lines = [b'(\\HasNoChildren) "/" INBOX', b'(\\HasNoChildren) "/" "Junk E-mail"',
             b'(\\HasNoChildren \\Junk) "/" Spam-Folder']  # fmt: skip
    folders = [f for line in lines if (f := parse_list_line(line))]
    assert find_junk(folders) == "Spam-Folder"
    assert find_junk(folders[:2]) == "Junk E-mail"
    assert find_junk(folders[:1]) is None


def test_keys_encrypt_rotate_and_refuse_the_wrong_one():
    """A token decrypts with its key, also listed second after a new one; another key is refused."""
    old, new = generate_key(), generate_key()
    token = SecretBox(old).encrypt("pw")
    assert "pw" not in token and SecretBox(f"{new},{old}").decrypt(token) == "pw"
    with pytest.raises(WrongKeyError):
        SecretBox(new).decrypt(token)


def test_the_warmup_job_needs_a_valid_key_in_the_settings():
    """A malformed AUTO_SCALER_SECRET_KEY is a config error naming which key is bad."""
    with pytest.raises(ConfigError) as caught:
        make_settings(for_platform=False, worker_job="warmup", secret_key="abc,def")
    assert caught.value.problems[0].startswith(
        "AUTO_SCALER_SECRET_KEY=********: must be a Fernet"
    )
    assert caught.value.problems[0].endswith("(key 1 of 2 is not a valid Fernet key)")
    key = generate_key()
    settings = make_settings(for_platform=False, worker_job="warmup", secret_key=key)
    assert settings.worker.job == "warmup"
