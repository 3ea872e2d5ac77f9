"""`warmup-autoscaler simulate` as a user runs it: the seed's timeline, a bulk import, steady
growth with predictive scaling, the table, --json, a real PNG, a CSV, stored samples, bad input."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.e2e.conftest import cli
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.history import HistoryStore, SampleRecord

MODES = ("--profile", "step", "--profile", "target", "--profile", "tracking")


def simulate(tmp_path: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    done = cli(tmp_path, env, "simulate", *args, "--json")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def by_name(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["profile"]["name"]: p for p in answer["profiles"]}


def test_the_seeds_timeline_reproduces_the_seeds_worker_counts(tmp_path, base_env):
    """One check per line of the seed's timeline: 1, 1, 2, 3, 4 and back to 3 workers, with the
    seed's reasons; the CSV of the same lines gives the same answer."""
    answer = simulate(
        tmp_path, base_env, "--generate", "seed-timeline", "--profile", "balanced", "--timeline"
    )
    [balanced] = answer["profiles"]
    assert [c["workers"] for c in balanced["timeline"]] == [1, 1, 2, 3, 4, 3]
    assert [c["mailboxes"] for c in balanced["timeline"]] == [48, 500, 850, 1800, 3200, 1200]
    assert [a["reason"] for a in balanced["actions"]] == [
        "High utilization (85.0%) - adding worker",
        "High utilization (90.0%) - adding worker",
        "High utilization (106.7%) - adding worker",
        "Low utilization (30.0%) - removing worker",
    ]
    assert balanced["figures"]["underCapacityMailboxHours"] == 0
    assert balanced["figures"]["flaps"] == 0

    csv = tmp_path / "seed.csv"
    csv.write_text(
        "timestamp,mailboxes\n"
        + "".join(f"{t['t']},{t['mailboxes']}\n" for t in balanced["timeline"])
    )
    again = simulate(tmp_path, base_env, "--csv", str(csv), "--profile", "balanced", "--timeline")
    assert [c["workers"] for c in again["profiles"][0]["timeline"]] == [1, 1, 2, 3, 4, 3]


def test_a_bulk_import_under_each_mode(tmp_path, base_env):
    """900 -> 4,500 mailboxes at once: step mode climbs one worker per 5 min cooldown, leaving
    mailboxes above capacity for 10 minutes; target (to 6, under the 80% threshold), tracking and
    predictive (to 5, at the 90% set point) add capacity at once. The table ranks them and the
    PNG is a real 1200x600 image."""
    png = tmp_path / "bulk.png"
    args = ("--generate", "bulk-import", "--noise", "0", "--compare", *MODES)
    answer = simulate(tmp_path, base_env, *args, "--profile", "predictive", "--plot", str(png))
    profiles = by_name(answer)
    step = profiles["step"]["figures"]
    # 4,500 on 3 then 4 workers for 5 minutes each: (1,500 + 500) x 5 min
    assert step["underCapacityMailboxHours"] == pytest.approx(2000 * 5 / 60, abs=0.001)
    assert step["peakBacklog"] == 1500
    assert [a["workers"] for a in profiles["step"]["actions"]] == [3, 4, 5, 6]
    for name, workers in (("target", 6), ("tracking", 5), ("predictive", 5)):
        figures = profiles[name]["figures"]
        assert figures["underCapacityMailboxHours"] == 0, name
        assert figures["peakBacklog"] == 0 and figures["flaps"] == 0, name
        assert [a["workers"] for a in profiles[name]["actions"]] == [workers], name
    assert answer["ranking"][-1] == "step"

    with Image.open(png) as image:
        image.verify()
    with Image.open(png) as image:
        assert (image.format, image.size) == ("PNG", (1200, 600))

    table = cli(tmp_path, base_env, "simulate", *args)
    assert table.returncode == 0, table.stderr
    assert "bulk-import: 289 checks over 1 d (one every 5 min)" in table.stdout
    lines = [line for line in table.stdout.splitlines() if "│" in line]
    assert [line.split("│")[2].strip() for line in lines] == ["tracking", "target", "step"]
    assert lines[-1].split("│")[3].strip() == f"{2000 * 5 / 60:,.1f}"


def test_predictive_scaling_on_steady_growth_scales_up_before_the_threshold(tmp_path, base_env):
    """Growing 500 -> 5,000 over two days with a 2 min lead time: predictive step mode adds each
    worker on a forecast, before utilization reaches the 80% threshold (without it, each at 80%
    or more), and the predictive profile (tracking) before its 94.5% (set point 90% +5%)."""
    args = ("--generate", "growth", "--days", "2", "--noise", "0", "--lead-time", "2m")
    answer = simulate(
        tmp_path,
        base_env,
        *args,
        "--timeline",
        "--profile",
        "step",
        "--set",
        "PREDICTIVE=true",
        "--profile",
        "predictive",
    )
    plain, tracking, ahead = answer["profiles"]  # named profiles first, then --set variants

    def utilizations(profile: dict[str, Any]) -> list[float]:
        timeline = profile["timeline"]
        before = {t["t"]: prev["workers"] for prev, t in itertools.pairwise(timeline)}
        return [a["mailboxes"] / (before[a["t"]] * 1000) for a in profile["actions"]]

    assert len(ahead["actions"]) == len(plain["actions"]) == 6
    assert all(u >= 0.8 for u in utilizations(plain))
    assert all(u < 0.8 for u in utilizations(ahead))
    assert all(u <= 0.945 for u in utilizations(tracking)) and len(tracking["actions"]) == 5
    for profile in (ahead, tracking):
        assert all(a["action"] == "scale-up" for a in profile["actions"])
        assert all(a["reason"].startswith("Forecast ") for a in profile["actions"])
    assert ahead["actions"][0]["reason"] == (
        "Forecast 800 mailboxes in 7 min (slope 1.6/min) - adding worker"
    )
    assert ahead["figures"]["hoursAboveUpThreshold"] == 0


def test_stored_samples_are_replayed(tmp_path, base_env):
    """--from-history reads the daemon's samples, and starts from the workers they had."""
    env = dict(base_env, DATABASE_URL=f"sqlite:///{tmp_path / 'warmup.db'}")
    assert cli(tmp_path, env, "db", "init").returncode == 0
    db = Database(env["DATABASE_URL"])
    now = datetime.now(UTC)
    try:
        for minutes, count in ((50, 900), (40, 900), (30, 4500), (20, 4500), (10, 4500)):
            HistoryStore(db).record_sample(
                SampleRecord(
                    sampled_at=now - timedelta(minutes=minutes),
                    mailboxes=count,
                    workers=2,
                    capacity=2000,
                    utilization_percent=None,
                )
            )
    finally:
        db.dispose()
    answer = simulate(tmp_path, env, "--from-history", "1h", "--profile", "target")
    [target] = answer["profiles"]
    assert answer["series"]["checks"] == 5
    assert target["startWorkers"] == 2
    assert [a["workers"] for a in target["actions"]] == [6]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ((), 2, "give exactly one of --from-history WINDOW, --csv FILE or --generate KIND"),
        (("--generate", "growth", "--csv", "x.csv"), 2, "give exactly one of"),
        (("--generate", "tides"), 2, "choose one of growth, bulk-import, churn, steady"),
        (("--generate", "growth", "--plot", "out.gif"), 2, "the file must end in .png or .svg"),
        (("--generate", "growth", "--step", "soon"), 2, "'soon' is not a duration"),
        (
            ("--generate", "growth", "--set", "API_PORT=1"),
            2,
            "config error: --set 'API_PORT=1': API_PORT does not change decisions",
        ),
        (
            ("--generate", "growth", "--set", "SCALING_MODE=jump"),
            2,
            "config error: profile SCALING_MODE=jump: AUTO_SCALER_SCALING_MODE=jump: must be "
            "step, target or tracking",
        ),
        (("--csv", "bad.csv"), 2, "bad.csv line 3: 'many' is not a whole number of mailboxes"),
        (("--from-history", "7d"), 1, "error: no stored samples in the last 7d of samples"),
    ],
)
def test_bad_input_says_what_is_wrong(tmp_path, base_env, args, code, message):
    """Usage errors exit 2 and a database without samples exits 1, each naming the problem."""
    (tmp_path / "bad.csv").write_text(
        "timestamp,mailboxes\n2026-01-01T00:00Z,5\n2026-01-01T00:05Z,many\n"
    )
    env = dict(base_env, DATABASE_URL=f"sqlite:///{tmp_path / 'warmup.db'}")
    assert cli(tmp_path, env, "db", "init").returncode == 0
    done = cli(tmp_path, env, "simulate", *args)
    assert done.returncode == code, done.stderr
    assert message in " ".join(done.stderr.replace("│", " ").split())
    assert "Traceback" not in done.stderr
