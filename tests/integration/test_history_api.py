"""History, samples and metrics through the real API on real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.settings import make_settings
from warmup_autoscaler.api import create_app
from warmup_autoscaler.controller import Controller
from warmup_autoscaler.metrics import Metrics
from warmup_autoscaler.platforms.manual import ManualPlatform
from warmup_autoscaler.sensor import MailboxCounter
from warmup_autoscaler.store.demo import create_demo_tables, set_active_count
from warmup_autoscaler.store.history import HistoryStore
from warmup_autoscaler.store.migrate import upgrade
from warmup_autoscaler.store.state import StateStore


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


class Scaled(ManualPlatform):
    """A manual platform whose count follows what it was told (a stand-in for a real fleet)."""

    def scale_to(self, workers: int) -> None:
        super().scale_to(workers)
        self._workers = workers

    def current_workers(self) -> int:
        return self._workers


@pytest.fixture
def setup(db):
    upgrade(db)
    create_demo_tables(db)
    now = datetime.now(UTC)
    clock = Clock(now - timedelta(days=3))
    history = HistoryStore(db)
    controller = Controller(
        settings=make_settings(platform="manual", scale_up_cooldown_ms=0, scale_down_cooldown_ms=0),
        counter=MailboxCounter(db, "SELECT COUNT(*) FROM mailboxes WHERE status = 'active'"),
        platform=Scaled(workers=1),
        journal=StateStore(db),
        history=history,
        clock=clock,
    )
    metrics = Metrics(lambda: controller.status, clock)
    controller.observers.append(metrics.observe)
    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(controller, history=history, metrics=metrics)),
        base_url="http://t",
    )

    def get(url: str) -> httpx.Response:
        return loop.run_until_complete(client.get(url))

    # Three days of hourly checks: growth from 200 to 2,000 mailboxes, then a drop to 300.
    counts = [200 + 25 * i for i in range(72)] + [300] * 6
    for m in counts:
        set_active_count(db, m)
        loop.run_until_complete(controller.check())
        clock.now += timedelta(hours=1) if m != 300 else timedelta(minutes=5)
    yield controller, get, len(counts)
    loop.run_until_complete(client.aclose())
    loop.close()


def test_history_is_newest_first_and_pages(setup):
    """History returns decisions newest first and pages with nextBefore without overlap."""
    _, get, total = setup
    first = get("/api/auto-scaler/history?limit=10").json()
    assert len(first["items"]) == 10
    ids = [i["id"] for i in first["items"]]
    assert ids == sorted(ids, reverse=True)
    second = get(f"/api/auto-scaler/history?limit=10&before={first['nextBefore']}").json()
    assert max(i["id"] for i in second["items"]) < min(ids)
    everything = get("/api/auto-scaler/history?limit=1000").json()
    assert len(everything["items"]) == total and everything["nextBefore"] is None


def test_history_filters_by_action_and_time(setup):
    """`action`, `since` and `until` filter the journal."""
    _, get, _ = setup
    ups = get("/api/auto-scaler/history?limit=1000&action=scale-up").json()["items"]
    assert ups and all(i["action"] == "scale-up" for i in ups)
    downs = get("/api/auto-scaler/history?limit=1000&action=scale-down").json()["items"]
    assert downs and all(i["action"] == "scale-down" for i in downs)
    newest = ups[0]["checkedAt"]
    since = get(f"/api/auto-scaler/history?limit=1000&since={newest.replace('Z', '%2B00:00')}")
    assert all(i["checkedAt"] >= newest for i in since.json()["items"])


BAD_PARAMETERS = [
    (
        "history?limit=0",
        "limit",
        "query parameter 'limit': Input should be greater than or equal to 1",
    ),
    (
        "history?action=explode",
        "action",
        "query parameter 'action': Input should be 'scale-up', 'scale-down' or 'no-change'",
    ),
    (
        "samples?window=1y",
        "window",
        "query parameter 'window': Input should be '24h', '7d' or '30d'",
    ),
    (
        "history?before=99999999999999999999999",
        "before",
        "query parameter 'before': Input should be less than or equal to 9223372036854775807",
    ),
    (
        "history?since=0001-01-01T00:00:00%2B14:00",
        "since",
        "query parameter 'since': must be a time between 0001-01-01 and 9999-12-31 in UTC",
    ),
    (
        "history?until=-885",
        "until",
        "query parameter 'until': must be an ISO 8601 time, e.g. 2026-05-01T00:00:00Z",
    ),
    (
        "history?until=9999-12-31T23:59:59-14:00",
        "until",
        "query parameter 'until': must be a time between 0001-01-01 and 9999-12-31 in UTC",
    ),
]


@pytest.mark.parametrize(("query", "field", "detail"), BAD_PARAMETERS)
def test_history_rejects_bad_parameters(setup, query, field, detail):
    """A bad query parameter is a 422 naming it (not a 500, nor a 503 blaming the database), and
    the answer does not echo the value."""
    _, get, _ = setup
    bad = get(f"/api/auto-scaler/{query}")
    assert bad.status_code == 422
    assert (bad.json()["detail"], bad.json()["field"]) == (detail, field)
    assert "9999999999999999" not in bad.json()["detail"] and "explode" not in bad.text


def test_history_takes_times_at_the_edges_of_the_range(setup):
    """The first and last times that have a UTC equivalent are accepted."""
    _, get, _ = setup
    for query in (
        "since=0001-01-01T00:00:00",
        "until=9999-12-31T23:59:59Z",
        "before=9223372036854775807",
    ):
        assert get(f"/api/auto-scaler/history?{query}").status_code == 200


def test_samples_cover_the_window_with_scale_events(setup):
    """Samples come oldest first with capacity, and executed scale events are marked."""
    _, get, _ = setup
    body = get("/api/auto-scaler/samples?window=7d").json()
    points = body["points"]
    assert len(points) == 78
    assert [p["t"] for p in points] == sorted(p["t"] for p in points)
    assert all(p["capacity"] == p["workers"] * 1000 for p in points)
    assert points[-1]["mailboxes"] == 300
    actions = {e["action"] for e in body["events"]}
    assert actions == {"scale-up", "scale-down"}
    day = get("/api/auto-scaler/samples?window=24h").json()
    assert 0 < len(day["points"]) < len(points)


def test_metrics_parse_and_equal_status(setup):
    """/metrics parses with prometheus_client's parser and its values equal the status endpoint's."""
    _, get, total = setup
    status = get("/api/auto-scaler/status").json()
    text = get("/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("warmup_autoscaler_mailboxes", ())] == status["mailboxCount"]
    assert samples[("warmup_autoscaler_workers", ())] == status["currentWorkers"]
    assert samples[("warmup_autoscaler_optimal_workers", ())] == status["optimalWorkers"]
    assert samples[("warmup_autoscaler_utilization_ratio", ())] == pytest.approx(
        status["utilizationPercent"] / 100
    )
    assert samples[("warmup_autoscaler_capacity_mailboxes", ())] == status["currentWorkers"] * 1000
    assert (
        samples[("warmup_autoscaler_cooldown_remaining_seconds", (("direction", "up"),))]
        == (status["cooldowns"]["scaleUpSecondsLeft"])
    )
    checks = sum(v for (name, _), v in samples.items() if name == "warmup_autoscaler_checks_total")
    assert checks == total
    assert samples[("warmup_autoscaler_check_duration_seconds_count", ())] == total
