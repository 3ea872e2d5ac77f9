"""The alert engine on an injected clock: what fires, repeats and resolves, with exact messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from tests.support.logs import capture_events
from warmup_autoscaler import alerts
from warmup_autoscaler.alerts import (
    AlertConfig,
    AlertEngine,
    AlertEvent,
    AlertStatus,
    CheckObservation,
    Severity,
    alert_config,
    growth,
    rules,
    sinks,
)
from warmup_autoscaler.alerts.growth import Sample
from warmup_autoscaler.alerts.sinks import LogSink, safe_url, webhook_body
from warmup_autoscaler.config import AlertSettings
from warmup_autoscaler.policy import Decision, PolicyConfig, decide

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
POLICY = PolicyConfig(max_workers=100)  # full at 80,000 mailboxes
SMALL = PolicyConfig(max_workers=10)  # full at 8,000 mailboxes


def decision(mailboxes: int, workers: int, policy: PolicyConfig = POLICY) -> Decision:
    return decide(
        mailboxes=mailboxes,
        workers=workers,
        cfg=policy,
        last_scale_up=None,
        last_scale_down=None,
        now=T0,
    )


def ok(mailboxes: int, workers: int, policy: PolicyConfig = POLICY) -> CheckObservation:
    return CheckObservation(decision=decision(mailboxes, workers, policy))


def summary(events: list[AlertEvent]) -> list[tuple[str, str]]:
    return [(e.name, e.status.value) for e in events]


AT_LIMIT = ok(93_000, 100)


def test_capacity_limit_fires_once_repeats_after_interval_and_resolves():
    """At max and over the up threshold: one `fired`, `repeated` only hourly, then `resolved`."""
    engine = AlertEngine(AlertConfig(), policy=POLICY)
    fired = engine.evaluate(AT_LIMIT, T0)
    assert summary(fired) == [("capacity_limit", "fired")]
    assert fired[0].severity is Severity.CRITICAL
    assert fired[0].message == (
        "Capacity limit reached: 100 workers (max) at 93.0% utilization; "
        "raise AUTO_SCALER_MAX_WORKERS or add capacity"
    )
    assert fired[0].details == {
        "workers": 100,
        "maxWorkers": 100,
        "mailboxCount": 93_000,
        "utilizationPercent": 93.0,
        "scaleUpThreshold": 0.8,
    }
    for minutes in (5, 30, 59):
        assert engine.evaluate(AT_LIMIT, T0 + timedelta(minutes=minutes)) == []
    repeated = engine.evaluate(AT_LIMIT, T0 + timedelta(hours=1))
    assert summary(repeated) == [("capacity_limit", "repeated")]
    assert repeated[0].since == T0
    assert engine.evaluate(AT_LIMIT, T0 + timedelta(hours=1, minutes=59)) == []
    assert summary(engine.evaluate(AT_LIMIT, T0 + timedelta(hours=2))) == [
        ("capacity_limit", "repeated")
    ]
    resolved = engine.evaluate(ok(70_000, 100), T0 + timedelta(hours=2, minutes=5))
    assert summary(resolved) == [("capacity_limit", "resolved")]
    assert (
        resolved[0].message == "Capacity limit cleared: 100 workers (max 100) at 70.0% utilization"
    )
    assert (resolved[0].since, resolved[0].at) == (T0, T0 + timedelta(hours=2, minutes=5))
    assert engine.firing() == []


@pytest.mark.parametrize(
    ("obs", "fires"),
    [
        (ok(80_000, 100), True),  # exactly at the threshold
        (ok(79_999, 100), False),  # just under it
        (ok(95_000, 99), False),  # not at max: the policy adds a worker
        (CheckObservation(decision=decision(95_000, 99), executed=True), True),  # now at max
        (ok(99_000, 120), True),  # above max (scaled by hand), not executed: 82.5%
        (CheckObservation(), False),  # no decision: nothing learned, nothing fired
    ],
    ids=["at-threshold", "under", "below-max", "scaled-to-max", "above-max", "no-decision"],
)
def test_capacity_limit_condition(obs, fires):
    """Fires when the fleet this check left is at (or over) max and at or over the up threshold."""
    events = AlertEngine(AlertConfig(), policy=POLICY).evaluate(obs, T0)
    assert summary(events) == ([("capacity_limit", "fired")] if fires else [])


def test_failed_check_leaves_capacity_limit_firing_without_repeat_or_resolve():
    """A check with no decision neither repeats nor resolves the capacity alert."""
    engine = AlertEngine(AlertConfig(), policy=POLICY)
    engine.evaluate(AT_LIMIT, T0)
    assert engine.evaluate(CheckObservation(count_error="db down"), T0 + timedelta(hours=2)) == []
    assert [a.name for a in engine.firing()] == ["capacity_limit"]


def test_repeat_zero_never_repeats():
    """AUTO_SCALER_ALERT_REPEAT_MS=0: fired once, resolved once, nothing in between."""
    engine = AlertEngine(AlertConfig(repeat=timedelta(0)), policy=POLICY)
    assert summary(engine.evaluate(AT_LIMIT, T0)) == [("capacity_limit", "fired")]
    assert engine.evaluate(AT_LIMIT, T0 + timedelta(days=3)) == []


@dataclass(frozen=True)
class Failure:
    name: str
    obs: CheckObservation
    message: str
    severity: Severity


FAILURES = [
    Failure(
        "count_failures",
        CheckObservation(count_error="could not connect to the database"),
        "Mailbox count failed 3 checks in a row: could not connect to the database; nothing is "
        "scaled until it succeeds (check DATABASE_URL and AUTO_SCALER_MAILBOX_QUERY)",
        Severity.WARNING,
    ),
    Failure(
        "platform_failures",
        CheckObservation(decision=decision(85_000, 90), platform_error="docker socket not found"),
        "Platform failed 3 checks in a row: docker socket not found; the fleet cannot be scaled "
        "(check AUTO_SCALER_PLATFORM and its settings)",
        Severity.CRITICAL,
    ),
]


@pytest.mark.parametrize("f", FAILURES, ids=[f.name for f in FAILURES])
def test_failures_fire_at_threshold_repeat_and_resolve(f):
    """N failed checks in a row fire once, repeat after the interval, and resolve on success."""
    engine = AlertEngine(AlertConfig(), policy=POLICY)
    t = [T0 + timedelta(minutes=5 * i) for i in range(20)]
    assert engine.evaluate(f.obs, t[0]) == []
    assert engine.evaluate(f.obs, t[1]) == []
    fired = engine.evaluate(f.obs, t[2])
    assert summary(fired) == [(f.name, "fired")]
    assert (fired[0].message, fired[0].severity) == (f.message, f.severity)
    assert fired[0].details["consecutiveFailures"] == 3
    assert all(engine.evaluate(f.obs, t[i]) == [] for i in range(3, 14))
    assert summary(engine.evaluate(f.obs, t[2] + timedelta(hours=1))) == [(f.name, "repeated")]
    resolved = engine.evaluate(ok(50_000, 90), t[19])
    assert summary(resolved) == [(f.name, "resolved")]
    what = "Mailbox count" if f.name == "count_failures" else "Platform"
    assert resolved[0].message == f"{what} works again after 15 failed checks"


def test_streaks_are_separate_for_count_and_platform():
    """A count failure does not touch the platform streak; a platform failure ends the count's."""
    engine = AlertEngine(AlertConfig(failure_threshold=2), policy=POLICY)
    count, platform = FAILURES[0].obs, CheckObservation(platform_error="kubectl timed out")
    assert engine.evaluate(platform, T0) == []
    assert engine.evaluate(count, T0 + timedelta(minutes=5)) == []  # platform streak stays at 1
    fired = engine.evaluate(platform, T0 + timedelta(minutes=10))  # count streak reset
    assert summary(fired) == [("platform_failures", "fired")]
    assert engine.evaluate(count, T0 + timedelta(minutes=15)) == []  # count streak is 1, not 2


def test_check_failing_elsewhere_leaves_streaks_alone():
    """A check with no decision and no count or platform error (the store failed) learns nothing."""
    engine = AlertEngine(AlertConfig(failure_threshold=2), policy=POLICY)
    count = FAILURES[0].obs
    engine.evaluate(count, T0)
    assert engine.evaluate(CheckObservation(), T0 + timedelta(minutes=5)) == []
    assert summary(engine.evaluate(count, T0 + timedelta(minutes=10))) == [
        ("count_failures", "fired")
    ]


def test_observation_rejects_two_errors():
    """A check fails at the count or at the platform, never both."""
    with pytest.raises(ValueError, match="not both"):
        CheckObservation(count_error="a", platform_error="b")


def history(start_level: float, per_day: float, days: int = 7) -> list[Sample]:
    """Hourly counts over `days` before T0, reaching `start_level` at T0."""
    return [
        Sample(at=T0 - timedelta(hours=h), mailboxes=round(start_level - per_day * h / 24))
        for h in range(days * 24 - 1, 0, -1)
    ]


def test_capacity_horizon_fires_when_full_is_nearer_than_the_horizon():
    """At +240/day from 5,600 the fleet of 10 is full (8,000) in 10 days: a warning with details."""
    engine = AlertEngine(AlertConfig(), policy=SMALL)
    engine.preload(history(5600, 240))
    events = engine.evaluate(ok(5600, 8, SMALL), T0)
    assert summary(events) == [("capacity_horizon", "fired")]
    e = events[0]
    assert e.severity is Severity.WARNING
    assert e.message == (
        "Capacity horizon: at +240.0 mailboxes/day, 10 workers (max) will be full in 10.0 days "
        "(around 2026-03-11 09:00 UTC): 8,000 mailboxes, 80% of 10 x 1000; "
        "raise AUTO_SCALER_MAX_WORKERS before then"
    )
    assert e.details["daysLeft"] == pytest.approx(10)
    assert e.details["growthPerDay"] == pytest.approx(240)
    assert e.details["fullAt"].startswith("2026-03-11T09:00")
    assert e.details["horizonDays"] == 14
    assert engine.projection is not None
    assert engine.projection.days_left == pytest.approx(10)


def test_capacity_horizon_resolves_when_growth_stops():
    """Hourly flat counts after the alert bend the trend until full is beyond 14 days: resolved."""
    engine = AlertEngine(AlertConfig(), policy=SMALL)
    engine.preload(history(5600, 240))
    engine.evaluate(ok(5600, 8, SMALL), T0)
    events: list[AlertEvent] = []
    for hour in range(1, 7 * 24):
        events += engine.evaluate(ok(5600, 8, SMALL), T0 + timedelta(hours=hour))
        if events[-1:] and events[-1].status is AlertStatus.RESOLVED:
            break
    *repeats, resolved = summary(events)
    assert set(repeats) == {("capacity_horizon", "repeated")}
    assert resolved == ("capacity_horizon", "resolved")
    assert events[-1].message.startswith("Capacity horizon cleared: at +")
    assert events[-1].message.endswith("beyond the 14-day horizon")


@pytest.mark.parametrize(
    ("samples", "config"),
    [
        (history(5600, 240), AlertConfig(capacity_horizon=timedelta(0))),  # turned off
        (history(5600, 240)[-3:], AlertConfig()),  # too little history
        (history(2000, 240), AlertConfig()),  # full in 25 days, beyond 14
        (history(5600, -100), AlertConfig()),  # shrinking: never full
    ],
    ids=["off", "too-little-data", "far", "shrinking"],
)
def test_capacity_horizon_quiet(samples, config):
    """No horizon alert when off, with too little history, when far, or when not growing."""
    engine = AlertEngine(config, policy=SMALL)
    engine.preload(samples)
    assert engine.evaluate(ok(samples[-1].mailboxes, 8, SMALL), T0) == []


def test_scaling_action_is_off_by_default_and_one_event_per_action_when_on():
    """AUTO_SCALER_ALERT_ON_SCALE: an info event per executed action, never firing or resolved."""
    executed = CheckObservation(decision=decision(850, 1), executed=True)
    assert AlertEngine(AlertConfig(), policy=POLICY).evaluate(executed, T0) == []
    engine = AlertEngine(AlertConfig(on_scale=True), policy=POLICY)
    events = engine.evaluate(executed, T0)
    assert summary(events) == [("scaling_action", "fired")]
    assert events[0].severity is Severity.INFO
    assert events[0].message == (
        "Scaled up from 1 to 2 workers: High utilization (85.0%) - adding worker"
    )
    assert events[0].details["targetWorkers"] == 2
    assert summary(engine.evaluate(executed, T0 + timedelta(minutes=1))) == [
        ("scaling_action", "fired")
    ]
    assert engine.evaluate(ok(850, 1), T0 + timedelta(minutes=2)) == []  # not executed
    assert engine.firing() == []


def test_firing_lists_most_severe_then_oldest_for_the_api():
    """`firing()` orders critical before warning, and `to_dict` is the API's shape."""
    engine = AlertEngine(AlertConfig(), policy=SMALL)
    engine.preload(history(5600, 240))
    engine.evaluate(ok(5600, 8, SMALL), T0)
    engine.evaluate(ok(8800, 10, SMALL), T0 + timedelta(minutes=5))
    assert [a.name for a in engine.firing()] == ["capacity_limit", "capacity_horizon"]
    assert engine.firing()[0].to_dict() == {
        "alert": "capacity_limit",
        "name": "capacity_limit",
        "severity": "critical",
        "message": "Capacity limit reached: 10 workers (max) at 88.0% utilization; "
        "raise AUTO_SCALER_MAX_WORKERS or add capacity",
        "since": "2026-03-01T09:05:00Z",
        "lastSentAt": "2026-03-01T09:05:00Z",
        "details": {
            "workers": 10,
            "maxWorkers": 10,
            "mailboxCount": 8800,
            "utilizationPercent": 88.0,
            "scaleUpThreshold": 0.8,
        },
    }


def test_config_from_settings_reads_alert_settings():
    """The defaults give the default config; a SecretStr webhook URL is unwrapped."""
    assert alert_config(AlertSettings(_env_file=None)) == AlertConfig()
    url = SecretStr("https://hooks.slack.com/services/T/B/x")
    config = alert_config(
        AlertSettings(
            _env_file=None,
            webhook_url=url,
            repeat_ms=0,
            failure_threshold=5,
            capacity_horizon_days=30,
            growth_window_days=3,
            on_scale=True,
            webhook_timeout_ms=1500,
        )
    )
    assert config == AlertConfig(
        repeat=timedelta(0),
        failure_threshold=5,
        capacity_horizon=timedelta(days=30),
        growth_window=timedelta(days=3),
        on_scale=True,
        webhook_url="https://hooks.slack.com/services/T/B/x",
        webhook_timeout=timedelta(milliseconds=1500),
    )
    assert "hooks.slack.com" not in repr(config)


def test_log_sink_writes_one_line_per_event_at_the_severity_level():
    """Fired critical logs at error, warning at warning, info at info; resolved always at info."""
    engine = AlertEngine(AlertConfig(failure_threshold=1, on_scale=True), policy=POLICY)
    events = engine.evaluate(CheckObservation(count_error="db down"), T0)
    events += engine.evaluate(AT_LIMIT, T0 + timedelta(minutes=5))
    events += engine.evaluate(ok(70_000, 100), T0 + timedelta(minutes=10))
    events += engine.evaluate(
        CheckObservation(decision=decision(850, 1), executed=True), T0 + timedelta(minutes=15)
    )
    with capture_events() as logs:
        for e in events:
            LogSink().send(e)
    assert [(entry["alert"], entry["status"], entry["log_level"]) for entry in logs] == [
        ("count_failures", "fired", "warning"),
        ("capacity_limit", "fired", "error"),
        ("count_failures", "resolved", "info"),
        ("capacity_limit", "resolved", "info"),
        ("scaling_action", "fired", "info"),
    ]
    assert all(entry["event"] == "alert" for entry in logs)
    assert logs[1]["message"].startswith("Capacity limit reached: 100 workers (max)")
    assert logs[1]["since"] == "2026-03-01T09:05:00Z"


def test_webhook_body_suits_slack_and_generic_receivers():
    """`text` for Slack (with &, <, > escaped) and the structured fields for everyone else."""
    event = AlertEvent(
        name="platform_failures",
        status=AlertStatus.REPEATED,
        severity=Severity.CRITICAL,
        message="Platform failed 4 checks in a row: <timeout> & more",
        since=T0,
        at=T0 + timedelta(hours=1),
        details={"consecutiveFailures": 4},
    )
    assert webhook_body(event) == {
        "text": "[STILL FIRING] critical platform_failures: Platform failed 4 checks in a row: "
        "&lt;timeout&gt; &amp; more",
        "alert": "platform_failures",
        "status": "repeated",
        "severity": "critical",
        "message": "Platform failed 4 checks in a row: <timeout> & more",
        "since": "2026-03-01T09:00:00Z",
        "at": "2026-03-01T10:00:00Z",
        "details": {"consecutiveFailures": 4},
        "source": "warmup-autoscaler",
    }


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T0/B0/SECRET", "https://hooks.slack.com"),
        ("http://user:pw@127.0.0.1:8080/hook?token=SECRET", "http://127.0.0.1:8080"),
    ],
)
def test_safe_url_keeps_only_scheme_and_host(url, shown):
    """Paths, queries and credentials (where tokens live) never reach the log."""
    assert safe_url(url) == shown


@pytest.mark.parametrize("module", [alerts, rules, sinks, growth])
def test_exported_members(module):
    """Each alert module exports exactly what it documents, and each name exists."""
    assert all(hasattr(module, name) for name in module.__all__)
