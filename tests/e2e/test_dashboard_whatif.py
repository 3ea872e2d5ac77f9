"""The dashboard's what-if panel in headless Chromium, against the real daemon with four days of
stored samples: the line it draws and the figures it shows are the simulation's, as
`warmup-autoscaler simulate --from-history` computes them from the same database.

Screenshot: artifacts/dashboard-whatif.png (1280x2200, the whole page down to the panel).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e import dashboard_support as ds
from tests.e2e.conftest import cli, wait_until
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.demo import set_active_count

TALL = (1280, 2200)
PROFILE = "tracking"


@pytest.fixture(scope="module")
def chromium() -> ds.Chromium:
    return ds.Chromium(ds.find_chromium())


@pytest.fixture
def daemon(tmp_path: Path, base_env: dict[str, str], daemon_factory: Any) -> tuple[str, dict]:
    """The daemon on four days of half-hourly samples; its checks an hour apart, so the samples
    it adds cannot change the window between the page, the API and the CLI."""
    env = dict(
        base_env,
        DATABASE_URL=f"sqlite:///{tmp_path / 'warmup.db'}",
        AUTO_SCALER_CHECK_INTERVAL_MS="3600000",
    )
    done = cli(tmp_path, env, "db", "init", "--demo")
    assert done.returncode == 0, done.stderr
    db = Database(env["DATABASE_URL"])
    try:
        set_active_count(db, 2_500)
    finally:
        db.dispose()
    ds.seed_database(env["DATABASE_URL"], ds.simulate(datetime.now(UTC)))
    run = daemon_factory(env).start()
    wait_until(lambda: run.status()["lastDecision"], what="the daemon's first decision")
    return run.url, env


def test_whatif_panel_draws_the_simulations_line(chromium, daemon, tmp_path):
    """Picking "tracking" over the last 24 h: the panel plots every stored sample with the
    profile's capacity, whose points and sum match `simulate --from-history 24h`, and shows the
    simulation's figures next to what happened."""
    url, env = daemon
    dom = chromium.dom(f"{url}/#window=24h&whatif={PROFILE}")
    api = httpx.get(
        f"{url}/api/auto-scaler/whatif", params={"window": "24h", "profile": PROFILE}, timeout=30
    ).json()
    done = cli(
        tmp_path,
        env,
        "simulate",
        "--from-history",
        "24h",
        "--profile",
        PROFILE,
        "--json",
        "--timeline",
    )
    assert done.returncode == 0, done.stderr
    [simulated] = json.loads(done.stdout)["profiles"]
    timeline = simulated["timeline"]

    chart = dom.by_id("whatif-chart")
    assert chart.find_all("canvas"), "uPlot drew no canvas"
    assert (chart.attrs["data-window"], chart.attrs["data-profile"]) == ("24h", PROFILE)
    assert int(chart.attrs["data-points"]) == len(timeline) == api["checks"] >= 48
    assert int(chart.attrs["data-capacity-sum"]) == sum(c["workers"] * 1000 for c in timeline)
    assert [p["capacity"] for p in api["points"]] == [c["workers"] * 1000 for c in timeline]
    assert api["simulated"] == simulated["figures"]
    assert simulated["figures"]["workerHours"] < api["actual"]["workerHours"]  # it is leaner

    for key, decimals in (("workerHours", 1), ("scalingActions", 0), ("flaps", 0)):
        shown = f"{simulated['figures'][key]:,.{decimals}f}"
        assert dom.text(f"whatif-sim-{key}") == shown, key
        assert dom.text(f"whatif-actual-{key}") == f"{api['actual'][key]:,.{decimals}f}", key
    assert dom.text("whatif-profile-head") == f"If “{PROFILE}”"
    assert dom.by_id("whatif-note").hidden
    assert "replayed through the real decision engine" in dom.text("whatif-summary")
    options = [o.attrs["value"] for o in dom.by_id("whatif-profile").find_all("option")]
    assert options == api["profiles"] and PROFILE in options

    ds.ARTIFACTS.mkdir(exist_ok=True)
    chromium.screenshot(
        f"{url}/#window=24h&whatif={PROFILE}", ds.ARTIFACTS / "dashboard-whatif.png", TALL
    )


def test_whatif_rejects_an_unknown_profile(daemon):
    """The endpoint answers 422 naming the allowed profiles."""
    url, _ = daemon
    answer = httpx.get(f"{url}/api/auto-scaler/whatif", params={"profile": "reckless"}, timeout=30)
    assert answer.status_code == 422
    assert "tracking" in answer.text
