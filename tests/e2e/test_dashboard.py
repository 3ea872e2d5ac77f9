"""The dashboard in headless Chromium: against the real daemon with four days of history, and
against a fake API for the states a daemon rarely shows (alerts, a worker registry, an API down).

Screenshots are kept in artifacts/ (dashboard-desktop.png 1280x800, dashboard-phone.png 390x844).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e import dashboard_support as ds
from tests.e2e.conftest import DaemonRun, cli, wait_until
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.demo import set_active_count
from warmup_autoscaler.store.history import SampleRecord
from warmup_autoscaler.store.state import ScalerState

# Where the must-show test gets its API: "daemon" (the real `warmup-autoscaler run`) or "fake".
BACKEND = "daemon"

MAILBOXES = 2_500  # the simulated history ends here, on 4 workers (62.5%)


@dataclass
class Served:
    url: str

    def get(self, path: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}/api/auto-scaler/{path}", timeout=10)
        answer.raise_for_status()
        return dict(answer.json())


@pytest.fixture(scope="module")
def chromium() -> ds.Chromium:
    return ds.Chromium(ds.find_chromium())


@pytest.fixture
def history() -> ds.History:
    return ds.simulate(datetime.now(UTC))


def start_daemon(
    tmp_path: Path, env: dict[str, str], make: Callable[[dict[str, str]], DaemonRun], h: ds.History
) -> Served:
    """The real daemon on the local platform, its database holding `h` (four days of checks)."""
    env = dict(
        env,
        DATABASE_URL=f"sqlite:///{tmp_path / 'warmup.db'}",
        AUTO_SCALER_CHECK_INTERVAL_MS="2000",
    )
    done = cli(tmp_path, env, "db", "init", "--demo")
    assert done.returncode == 0, done.stderr
    db = Database(env["DATABASE_URL"])
    try:
        set_active_count(db, MAILBOXES)
    finally:
        db.dispose()
    ds.seed_database(env["DATABASE_URL"], h)
    daemon = make(env).start()
    wait_until(lambda: daemon.status()["lastDecision"], what="the daemon's first decision")
    return Served(daemon.url)


@pytest.fixture
def served(
    tmp_path: Path, base_env: dict[str, str], daemon_factory: Any, history: ds.History
) -> Iterator[Served]:
    if BACKEND == "daemon":
        yield start_daemon(tmp_path, base_env, daemon_factory, history)
        return
    fake = ds.FakeApi(ds.healthy_status(datetime.now(UTC), history), history, datetime.now(UTC))
    with fake.running():
        yield Served(fake.url)


def fake_api(status: dict[str, Any], history: ds.History, mode: str = "ok") -> ds.FakeApi:
    fake = ds.FakeApi(status, history, datetime.now(UTC))
    fake.mode = mode
    return fake


def number(v: float | None) -> str:
    """What the page shows for a count in en-US: thousands separators, "—" for null."""
    return "—" if v is None else f"{v:,.0f}"


def assert_clean_text(dom: ds.Dom) -> None:
    text = dom.body.text
    for bad in ("null", "undefined", "NaN", "[object Object]"):
        assert not re.search(rf"\b{re.escape(bad)}\b", text), f"{bad!r} shown in the page"


def test_dashboard_shows_the_daemons_state(chromium, served, history):
    """Against the daemon with four days of samples: the numbers match the status API, the chart
    plots every sample of the last 24 h with its scale events, and the journal fills the table."""
    before = served.get("samples?window=24h")
    dom = chromium.dom(f"{served.url}/")
    status = served.get("status")
    after = served.get("samples?window=24h")

    assert dom.body.attrs.get("data-status") == "ok"
    assert dom.by_id("banner").hidden
    assert dom.text("workers-value") == number(status["currentWorkers"]) == "4"
    assert dom.text("mailboxes-value") == number(status["mailboxCount"]) == "2,500"
    assert dom.text("utilization-value") == f"{status['utilizationPercent']:.1f}%" == "62.5%"
    per = status["config"]["mailboxesPerWorker"]
    assert dom.text("capacity-value") == number(status["currentWorkers"] * per)
    assert dom.text("threshold-up") == f"{status['config']['scaleUpThreshold'] * 100:g}%"
    assert dom.text("threshold-down") == f"{status['config']['scaleDownThreshold'] * 100:g}%"
    assert dom.text("decision-reason") == status["lastDecision"]["reason"]
    assert dom.text("badges").startswith("Scaling active")
    assert dom.text("cooldown-up") == "Ready"  # the last scale-up was hours ago

    chart = dom.by_id("chart")
    assert chart.find_all("canvas"), "uPlot drew no canvas"
    assert len(before["points"]) <= int(chart.attrs["data-points"]) <= len(after["points"])
    assert int(chart.attrs["data-points"]) >= 48  # a day of half-hourly samples, plus the daemon's
    assert int(chart.attrs["data-events"]) == len(after["events"]) == 2
    assert chart.attrs["data-window"] == "24h"

    assert dom.by_id("decisions").attrs["data-rows"] == "20"
    if status.get("fleet") is None:
        assert "No worker registry" in dom.text("fleet-summary")
    else:
        assert dom.text("fleet-live") == number(status["fleet"]["live"])
    if "alerts" in status:
        assert dom.by_id("alerts-card").attrs["data-count"] == str(len(status["alerts"]))
    else:
        assert "not reported" in dom.text("alerts-body")
    assert_clean_text(dom)

    chromium.screenshot(f"{served.url}/", ds.ARTIFACTS / "dashboard-desktop.png", ds.DESKTOP)
    chromium.screenshot(f"{served.url}/", ds.ARTIFACTS / "dashboard-phone.png", ds.PHONE)


def test_window_switcher_plots_the_week(chromium, served):
    """`#window=7d` (what the 7 d button sets) plots the week: all four days and 7 scale events."""
    dom = chromium.dom(f"{served.url}/#window=7d")
    week = served.get("samples?window=7d")
    chart = dom.by_id("chart")
    assert chart.attrs["data-window"] == "7d"
    assert int(chart.attrs["data-points"]) >= 4 * 48
    assert abs(int(chart.attrs["data-points"]) - len(week["points"])) <= 5  # the daemon goes on
    assert int(chart.attrs["data-events"]) == len(week["events"]) == 7
    pressed = [b for b in dom.root.find_all("button") if b.attrs.get("aria-pressed") == "true"]
    assert [b.attrs["data-window-choice"] for b in pressed] == ["7d"]


def test_before_the_first_check_shows_dashes(chromium):
    """With every status field null and no history yet, the page shows dashes and says so."""
    empty = ds.History(
        checks=[], samples=[], state=ScalerState(last_scale_up_at=None, last_scale_down_at=None)
    )
    with fake_api(ds.status_before_first_check(), empty).running() as fake:
        dom = chromium.dom(f"{fake.url}/")
    assert dom.body.attrs.get("data-status") == "ok"
    for id_ in ("workers-value", "mailboxes-value", "utilization-value", "capacity-value"):
        assert dom.text(id_) == "—", id_
    assert dom.text("cooldown-up") == dom.text("cooldown-down") == "—"
    assert dom.text("last-up") == "never"
    assert dom.text("decision-body") == "No check has run yet."
    assert dom.by_id("last-error").hidden
    assert dom.text("alerts-body") == "✓ No alerts firing"
    assert dom.by_id("chart").attrs["data-points"] == "0"
    assert dom.text("chart-note").startswith("No samples in this window yet")
    assert dom.text("decision-rows") == "No decisions journaled yet."
    assert_clean_text(dom)


def test_trouble_shows_badges_error_alerts_and_fleet(chromium, history):
    """Paused, dry run, a last error, two alerts and five workers: each is on the page; a sample
    with null workers (a failed platform read) is plotted as a gap."""
    now = datetime.now(UTC)
    status = ds.busy_status(now, history)
    gap = SampleRecord(
        sampled_at=now, mailboxes=3_125, workers=None, capacity=None, utilization_percent=None
    )
    history = dataclasses.replace(history, samples=[*history.samples, gap])
    with fake_api(status, history).running() as fake:
        dom = chromium.dom(f"{fake.url}/")
        day = fake.samples("24h")
        chromium.screenshot(
            f"{fake.url}/", ds.ARTIFACTS / "dashboard-trouble-desktop.png", ds.DESKTOP
        )
        chromium.screenshot(f"{fake.url}/", ds.ARTIFACTS / "dashboard-trouble-phone.png", ds.PHONE)
    badges = dom.text("badges")
    assert "Paused until" in badges and "Dry run" in badges and "Scaling active" not in badges
    assert dom.text("pause-reason") == "Paused: Maintenance of the mail relay"
    assert dom.text("mailboxes-value") == "3,125"
    assert dom.text("cooldown-down") == "5 min 12 s left"
    assert "Not executed (paused)" in dom.text("decision-body")
    assert not dom.by_id("last-error").hidden
    assert dom.text("last-error-text") == status["lastError"]
    assert dom.by_id("alerts-card").attrs["data-count"] == "2"
    alerts = dom.by_id("alerts-body").find_all("li")
    assert [a.attrs["class"] for a in alerts] == ["alert alert-critical", "alert alert-warning"]
    assert "docker daemon not reachable" in alerts[0].text
    assert dom.by_id("fleet-card").attrs["data-workers"] == "5"
    assert [
        dom.text(i) for i in ("fleet-live", "fleet-draining", "fleet-backlog", "fleet-active")
    ] == [
        "4",
        "1",
        "17",
        "3,125",
    ]
    rows = dom.by_id("fleet-rows").find_all("tr")
    assert rows[-1].text == "warmup-old draining 0 12 s mail-2 · 3,999"
    assert day["points"][-1]["workers"] is None
    assert dom.by_id("chart").attrs["data-points"] == str(len(day["points"]))
    assert_clean_text(dom)


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("502", "api/auto-scaler/status answered HTTP 502"),
        ("refused", "the API cannot be reached (network error)"),
    ],
)
def test_api_down_shows_a_banner(chromium, history, mode, message):
    """An API that answers 502 (a proxy, daemon down) or not at all: a banner, not a blank page."""
    with fake_api(ds.healthy_status(datetime.now(UTC), history), history, mode).running() as fake:
        dom = chromium.dom(f"{fake.url}/")
        if mode == "502":
            chromium.screenshot(f"{fake.url}/", ds.ARTIFACTS / "dashboard-api-down.png", ds.DESKTOP)
    assert dom.body.attrs.get("data-status") == "error"
    banner = dom.by_id("banner")
    assert not banner.hidden
    assert banner.text.startswith(f"Cannot load the auto-scaler's status: {message}.")
    assert dom.text("updated") == "Not connected"
    assert dom.text("decision-body") == "Waiting for the API…"


def test_the_page_needs_nothing_from_the_internet():
    """Every script and stylesheet is a relative path the app serves (no CDN)."""
    html = (ds.DASHBOARD / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and all(not re.match(r"[a-z]+:", r) or r == "data:," for r in refs), refs
    for ref in refs:
        if ref.startswith("static/"):
            assert (ds.DASHBOARD / ref.removeprefix("static/")).is_file(), ref


def test_the_api_docs_render_with_no_internet(chromium, tmp_path, base_env, daemon_factory):
    """Swagger UI at /docs renders every operation in a browser that can reach only 127.0.0.1."""
    env = dict(base_env, AUTO_SCALER_PLATFORM="manual")
    assert cli(tmp_path, env, "db", "init", "--demo").returncode == 0
    daemon = daemon_factory(env).start()
    text = chromium.dom(f"{daemon.url}/docs").body.text
    for operation in (
        "GET /api /auto-scaler /status",
        "POST /api /auto-scaler /pause",
        "Authorize",
    ):
        assert operation in text, text[:500]
