"""Alerts delivered to a real HTTP receiver on 127.0.0.1; a slow or failing one never blocks."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.logs import capture_events
from warmup_autoscaler.alerts import (
    AlertConfig,
    AlertEngine,
    AlertEvent,
    AlertStatus,
    CheckObservation,
    Severity,
)
from warmup_autoscaler.alerts.growth import Sample
from warmup_autoscaler.alerts.sinks import AlertDispatcher, WebhookSink, build_dispatcher
from warmup_autoscaler.policy import PolicyConfig, decide

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
POLICY = PolicyConfig(max_workers=10)  # the fleet at max is full at 8,000 mailboxes
TOKEN = "T000-B000-SECRET-TOKEN"
DEADLINE_S = 10.0  # how long a test waits for the receiver before failing


class Receiver:
    """Records each POST; answers `statuses` in turn (then 200), after `release` if `hang`."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.hang = False
        self.release = threading.Event()
        self.responded = threading.Event()
        self.changed = threading.Condition()
        self.url = ""

    @property
    def attempts(self) -> int:
        return len(self.bodies)

    def wait_for(self, predicate: Callable[[], bool]) -> None:
        with self.changed:
            assert self.changed.wait_for(predicate, timeout=DEADLINE_S), "receiver never saw it"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with rx.changed:
                rx.bodies.append(body)
                status = rx.statuses.pop(0) if rx.statuses else 200
                rx.changed.notify_all()
            if rx.hang:
                rx.release.wait(DEADLINE_S)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout) before this answer
            rx.responded.set()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rx.url = f"http://127.0.0.1:{server.server_port}/services/{TOKEN}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield rx
    rx.release.set()
    server.shutdown()
    server.server_close()
    thread.join(DEADLINE_S)


def observe(mailboxes: int, workers: int, **errors: str) -> CheckObservation:
    d = decide(
        mailboxes=mailboxes,
        workers=workers,
        cfg=POLICY,
        last_scale_up=None,
        last_scale_down=None,
        now=T0,
    )
    return CheckObservation(decision=d, **errors)


HEALTHY = observe(5600, 8)
# alert -> (the observation that makes it fire, the one that clears it)
SCENARIOS: dict[str, tuple[CheckObservation, CheckObservation]] = {
    "capacity_limit": (observe(9300, 10), HEALTHY),
    "count_failures": (CheckObservation(count_error="could not connect to server"), HEALTHY),
    "platform_failures": (observe(8500, 9, platform_error="scale command exited 1"), HEALTHY),
    # 240/day for a week; then mailboxes are removed in bulk, which bends the trend within checks
    "capacity_horizon": (HEALTHY, observe(2000, 8)),
}
GROWING_WEEK = [
    Sample(at=T0 - timedelta(hours=h), mailboxes=5600 - 10 * h) for h in range(7 * 24 - 1, 0, -1)
]


def fire_repeat_resolve(name: str) -> list[AlertEvent]:
    """Drive one alert through fired -> (deduplicated) -> repeated -> resolved."""
    engine = AlertEngine(AlertConfig(failure_threshold=1), policy=POLICY)
    if name == "capacity_horizon":
        engine.preload(GROWING_WEEK)  # full in 10 days, under the 14-day horizon
    on, off = SCENARIOS[name]
    events = engine.evaluate(on, T0)
    events += engine.evaluate(on, T0 + timedelta(minutes=30))  # deduplicated: nothing
    t = T0 + timedelta(hours=1)
    events += engine.evaluate(on, t)  # the repeat
    while events[-1].status is not AlertStatus.RESOLVED:
        t += timedelta(minutes=5)
        assert t < T0 + timedelta(hours=2), "not resolved before the next repeat"
        events += engine.evaluate(off, t)
    return events


def test_each_alert_is_delivered_fired_repeated_resolved_as_json(receiver):
    """Every alert reaches the receiver as fired, repeated, resolved, with Slack text and fields."""
    events = [e for name in SCENARIOS for e in fire_repeat_resolve(name)]
    action = observe(6500, 8)  # a scale-up to 9, executed: the info event
    events += AlertEngine(AlertConfig(on_scale=True), policy=POLICY).evaluate(
        CheckObservation(decision=action.decision, executed=True), T0
    )
    dispatcher = build_dispatcher(AlertConfig(webhook_url=receiver.url))
    dispatcher.dispatch(events)
    assert dispatcher.close(DEADLINE_S)
    expected = [(n, s) for n in SCENARIOS for s in ("fired", "repeated", "resolved")]
    expected.append(("scaling_action", "fired"))
    assert [(b["alert"], b["status"]) for b in receiver.bodies] == expected
    for body, event in zip(receiver.bodies, events, strict=True):
        assert body["text"].startswith(
            {"fired": "[FIRING] ", "repeated": "[STILL FIRING] ", "resolved": "[RESOLVED] "}[
                body["status"]
            ]
        )
        assert body["text"].endswith(f"{event.name}: {event.message}")
        assert body["severity"] == event.severity.value
        assert (body["message"], body["details"]) == (event.message, event.details)
        assert body["since"] == event.since.isoformat().replace("+00:00", "Z")
        assert body["source"] == "warmup-autoscaler"
    assert receiver.bodies[0]["text"] == (
        "[FIRING] critical capacity_limit: Capacity limit reached: 10 workers (max) at 93.0% "
        "utilization; raise AUTO_SCALER_MAX_WORKERS or add capacity"
    )


def event(name: str = "capacity_limit", minute: int = 0) -> AlertEvent:
    at = T0 + timedelta(minutes=minute)
    return AlertEvent(
        name=name,
        status=AlertStatus.FIRED,
        severity=Severity.CRITICAL,
        message=f"{name} at minute {minute}",
        since=at,
        at=at,
        details={},
    )


def test_hung_webhook_does_not_delay_dispatch_and_is_retried(receiver):
    """dispatch returns while the receiver still holds the request; timeouts are retried."""
    receiver.hang = True
    sink = WebhookSink(receiver.url, timeout_s=0.2, attempts=3, backoff_s=0.01)
    dispatcher = AlertDispatcher([sink])
    dispatcher.dispatch([event(minute=0)])
    dispatcher.dispatch([event(minute=1)])  # queued behind the hung one, returns as well
    assert not receiver.responded.is_set()
    receiver.wait_for(lambda: receiver.attempts >= 3)
    assert {b["message"] for b in receiver.bodies[:3]} == {"capacity_limit at minute 0"}
    receiver.release.set()
    assert dispatcher.close(DEADLINE_S)
    assert receiver.bodies[-1]["message"] == "capacity_limit at minute 1"


def test_failing_webhook_is_retried_then_given_up_with_a_warning(receiver):
    """500s: dispatch returns before any answer; 3 attempts, then one warning without the token."""
    receiver.hang, receiver.statuses = True, [500, 500, 500]
    sink = WebhookSink(receiver.url, timeout_s=5.0, attempts=3, backoff_s=0.01)
    with capture_events() as logs:
        AlertDispatcher([sink]).dispatch([event()])
        assert not receiver.responded.is_set()
        receiver.release.set()
        receiver.wait_for(lambda: receiver.attempts == 3)
        assert sink.close(DEADLINE_S)
    assert receiver.attempts == 3
    failed = [e for e in logs if e["event"] == "alert_webhook_failed"]
    assert len(failed) == 1
    assert (failed[0]["attempts"], failed[0]["error"]) == (3, "HTTP 500")
    assert failed[0]["url"] == receiver.url.split("/services")[0]
    assert TOKEN not in repr(logs)


@pytest.mark.parametrize(
    ("statuses", "attempts"),
    [([500, 503], 3), ([429], 2), ([400], 1), ([404], 1)],
    ids=["5xx-then-ok", "429-then-ok", "400-not-retried", "404-not-retried"],
)
def test_only_transient_failures_are_retried(receiver, statuses, attempts):
    """5xx and 429 are retried until delivered; other 4xx would fail again and are not."""
    receiver.statuses = list(statuses)
    sink = WebhookSink(receiver.url, timeout_s=5.0, attempts=3, backoff_s=0.01)
    sink.send(event())
    assert sink.close(DEADLINE_S)
    assert receiver.attempts == attempts
    assert len({json.dumps(b, sort_keys=True) for b in receiver.bodies}) == 1  # the same body


def test_full_queue_drops_with_a_warning(receiver):
    """With one event in flight and a full queue, the next is dropped and logged, not waited on."""
    receiver.hang = True
    sink = WebhookSink(receiver.url, timeout_s=5.0, queue_size=1)
    assert sink.send(event(minute=0))
    receiver.wait_for(lambda: receiver.attempts == 1)  # in flight, the queue is empty again
    assert sink.send(event(minute=1))
    with capture_events() as logs:
        assert not sink.send(event(minute=2))
    assert sink.dropped == 1
    assert [(e["event"], e["log_level"]) for e in logs] == [("alert_webhook_dropped", "warning")]
    receiver.release.set()
    assert sink.close(DEADLINE_S)
    assert [b["message"] for b in receiver.bodies] == [
        "capacity_limit at minute 0",
        "capacity_limit at minute 1",
    ]


def test_close_gives_up_on_a_hung_webhook_after_its_timeout(receiver):
    """close() returns False when delivery does not finish in time; later sends are dropped."""
    receiver.hang = True
    sink = WebhookSink(receiver.url, timeout_s=5.0)
    sink.send(event())
    receiver.wait_for(lambda: receiver.attempts == 1)
    assert not sink.close(0.05)
    assert not sink.send(event(minute=1))
    receiver.release.set()
    assert sink.close(DEADLINE_S)  # the worker finishes its request and stops
    assert receiver.attempts == 1


def test_unreachable_webhook_is_retried_and_logged():
    """A refused connection counts as a failed attempt and is retried like a timeout."""
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = WebhookSink(
        f"http://127.0.0.1:{port}/{TOKEN}", timeout_s=1.0, attempts=2, backoff_s=0.01
    )
    with capture_events() as logs:
        sink.send(event())
        assert sink.close(DEADLINE_S)
    failed = [e for e in logs if e["event"] == "alert_webhook_failed"]
    assert len(failed) == 1
    assert failed[0]["attempts"] == 2
    assert failed[0]["error"].startswith("ConnectError")
    assert TOKEN not in repr(logs)
