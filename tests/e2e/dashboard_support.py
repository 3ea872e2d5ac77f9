"""What the dashboard tests need: headless Chromium, a parsed DOM, days of history, and a fake API.

The fake API serves the real dashboard folder and canned JSON that follows the API contract (the
same history the real daemon is seeded with), so the page's handling of states a real daemon
rarely shows (alerts firing, a registry of workers, a proxy answering 502) is tested too.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from tests.e2e.conftest import free_port, wait_until
from warmup_autoscaler.policy import Action, PolicyConfig, decide
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.history import HistoryStore, SampleRecord
from warmup_autoscaler.store.state import CheckRecord, ScalerState, StateStore
from warmup_autoscaler.wire import check_json

DASHBOARD = Path(__file__).parents[2] / "src" / "warmup_autoscaler" / "dashboard"
ARTIFACTS = Path(__file__).parents[2] / "artifacts"
DESKTOP = (1280, 800)
PHONE = (390, 844)


# --- Chromium ----------------------------------------------------------------------------------


def find_chromium() -> str:
    """The Chromium binary, or skip (fail under CI=true): the page can only be tested in a browser."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    message = "Chromium not found (apt-get install -y chromium): the dashboard tests need it"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


class Chromium:
    """Headless Chromium, one fresh profile per run, unable to resolve any host but 127.0.0.1:
    a page that needed a CDN would show it (the assets must all come from the app)."""

    def __init__(self, binary: str) -> None:
        self.binary = binary

    def _run(self, url: str, size: tuple[int, int], *extra: str) -> str:
        with tempfile.TemporaryDirectory(prefix="dashboard-chromium-") as profile:
            argv = [
                self.binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                "--lang=en-US",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                "--virtual-time-budget=5000",
                *extra,
                url,
            ]
            env = dict(os.environ, TZ="UTC", LANG="en_US.UTF-8", LANGUAGE="en_US")
            done = subprocess.run(argv, capture_output=True, text=True, timeout=90, env=env)
        if done.returncode != 0:
            raise AssertionError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
        return done.stdout

    def dom(self, url: str, size: tuple[int, int] = DESKTOP) -> Dom:
        return Dom(self._run(url, size, "--dump-dom"))

    def screenshot(self, url: str, path: Path, size: tuple[int, int]) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        self._run(url, size, f"--screenshot={path}")
        assert path.is_file() and path.stat().st_size > 10_000, f"no screenshot at {path}"
        return path


# --- The DOM, parsed with the standard library ---------------------------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text for c in self.children]
        return " ".join(" ".join(parts).split())

    def walk(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.walk()

    def find_all(self, tag: str) -> list[Element]:
        return [e for e in self.walk() if e.tag == tag and e is not self]

    @property
    def hidden(self) -> bool:
        return "hidden" in self.attrs


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class Dom(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self._stack = [self.root]
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = Element(tag, {k: v or "" for k, v in attrs})
        self._stack[-1].children.append(el)
        if tag not in VOID:
            self._stack.append(el)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._stack) - 1, 0, -1):
            if self._stack[i].tag == tag:
                del self._stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self._stack[-1].children.append(data)

    def by_id(self, id_: str) -> Element:
        for el in self.root.walk():
            if el.attrs.get("id") == id_:
                return el
        raise AssertionError(f"no element with id={id_!r} in the page")

    def text(self, id_: str) -> str:
        return self.by_id(id_).text

    @property
    def body(self) -> Element:
        return self.root.find_all("body")[0]


# --- Days of history, decided by the real policy -------------------------------------------------

SIM_POLICY = PolicyConfig(scale_up_cooldown=timedelta(0), scale_down_cooldown=timedelta(0))


def demand(hours: float) -> int:
    """Active mailboxes over four days: growth, a drop on day 2, growth again; ends at 2,500."""
    if hours < 48:
        base = 600 + 1900 * hours / 48
    elif hours < 60:
        base = 800
    else:
        base = 800 + 1700 * min(1.0, (hours - 60) / 30)
    wobble = 40 * math.sin(hours / 3) if hours < 90 else 0
    return round(base + wobble)


@dataclass(frozen=True)
class History:
    checks: list[CheckRecord]
    samples: list[SampleRecord]
    state: ScalerState


def simulate(
    now: datetime, *, days: float = 4, every: timedelta = timedelta(minutes=30)
) -> History:
    """A journal and samples as if the daemon had checked every `every` for `days` until `now`."""
    steps = int(timedelta(days=days) / every)
    workers, up, down = 1, None, None
    checks, samples = [], []
    for i in range(steps):
        at = now - timedelta(days=days) + (i + 0.5) * every  # clear of the window edges
        hours = (at - (now - timedelta(days=days))) / timedelta(hours=1)
        m = demand(hours)
        d = decide(
            mailboxes=m,
            workers=workers,
            cfg=SIM_POLICY,
            last_scale_up=up,
            last_scale_down=down,
            now=at,
        )
        executed = d.action is not Action.NO_CHANGE
        if d.action is Action.SCALE_UP:
            up = at
        elif d.action is Action.SCALE_DOWN:
            down = at
        workers = d.target_workers
        checks.append(
            CheckRecord(
                checked_at=at,
                trigger="interval",
                mailbox_count=m,
                current_workers=d.current_workers,
                target_workers=d.target_workers,
                optimal_workers=d.optimal_workers,
                action=d.action.value,
                reason=d.reason,
                utilization_percent=d.utilization_percent,
                executed=executed,
                duration_ms=12.5,
            )
        )
        cap = workers * SIM_POLICY.mailboxes_per_worker
        samples.append(
            SampleRecord(
                sampled_at=at,
                mailboxes=m,
                workers=workers,
                capacity=cap,
                utilization_percent=round(100 * m / cap, 1),
                backlog=0,
            )
        )
    state = ScalerState(last_scale_up_at=up, last_scale_down_at=down, workers=workers)
    return History(checks=checks, samples=samples, state=state)


def seed_database(url: str, history: History) -> None:
    """Write `history` into a database the daemon will use (its tables must exist)."""
    db = Database(url)
    try:
        store, journal = HistoryStore(db), StateStore(db)
        for check in history.checks:
            journal.record_check(check)
        for sample in history.samples:
            store.record_sample(sample)
        journal.save(history.state)
    finally:
        db.dispose()


# --- A fake API that follows the contract --------------------------------------------------------

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z") if t else None


def status_before_first_check() -> dict[str, Any]:
    """A daemon that has not finished a check yet: every measured field is null."""
    return {
        "enabled": True,
        "currentWorkers": None,
        "mailboxCount": None,
        "utilizationPercent": None,
        "optimalWorkers": None,
        "canScaleUp": False,
        "canScaleDown": False,
        "config": {
            "enabled": True,
            "checkIntervalMs": 300000,
            "mailboxesPerWorker": 1000,
            "minWorkers": 1,
            "maxWorkers": 100,
            "scaleUpThreshold": 0.8,
            "scaleDownThreshold": 0.3,
            "platform": "local",
            "scaleUpCooldownMs": 300000,
            "scaleDownCooldownMs": 600000,
            "scalingMode": "step",
            "maxStep": 10,
        },
        "cooldowns": {"scaleUpSecondsLeft": 0.0, "scaleDownSecondsLeft": 0.0},
        "lastScaleUpAt": None,
        "lastScaleDownAt": None,
        "lastCheckAt": None,
        "lastDecision": None,
        "lastError": None,
        "paused": {"paused": False, "until": None, "reason": None},
        "dryRun": False,
        "fleet": None,
        "alerts": [],
    }


def healthy_status(now: datetime, history: History) -> dict[str, Any]:
    """A daemon at the end of `history`: the numbers the real daemon shows after the same days."""
    last = history.checks[-1]
    workers = history.state.workers or 0
    status = status_before_first_check()
    status.update(
        currentWorkers=workers,
        mailboxCount=last.mailbox_count,
        utilizationPercent=last.utilization_percent,
        optimalWorkers=last.optimal_workers,
        canScaleUp=True,
        canScaleDown=True,
        lastScaleUpAt=iso(history.state.last_scale_up_at),
        lastScaleDownAt=iso(history.state.last_scale_down_at),
        lastCheckAt=iso(last.checked_at),
        lastDecision={
            "action": last.action,
            "currentWorkers": last.current_workers,
            "targetWorkers": last.target_workers,
            "reason": last.reason,
            "mailboxCount": last.mailbox_count,
            "utilizationPercent": last.utilization_percent,
            "optimalWorkers": last.optimal_workers,
            "executed": last.executed,
            "checkedAt": iso(last.checked_at),
            "trigger": last.trigger,
            "skipped": None,
        },
    )
    return status


def busy_status(now: datetime, history: History) -> dict[str, Any]:
    """A daemon in trouble: paused, dry run, a failed last check, alerts, a draining worker."""
    status = healthy_status(now, history)
    workers = [
        {
            "id": f"w-{i}",
            "name": f"warmup-{i}",
            "state": "active",
            "host": "mail-1",
            "pid": 4100 + i,
            "owned": 780 + i,
            "heartbeatAgeSeconds": 1.5 + i,
        }
        for i in range(4)
    ] + [
        {
            "id": "w-9",
            "name": "warmup-old",
            "state": "draining",
            "host": "mail-2",
            "pid": 3999,
            "owned": 0,
            "heartbeatAgeSeconds": 12.0,
        }
    ]
    status.update(
        mailboxCount=3_125,
        utilizationPercent=78.1,
        canScaleDown=False,
        cooldowns={"scaleUpSecondsLeft": 0.0, "scaleDownSecondsLeft": 312.0},
        lastCheckAt=iso(now - timedelta(seconds=20)),
        lastDecision={
            "action": "scale-up",
            "currentWorkers": 4,
            "targetWorkers": 5,
            "reason": "High utilization (81.2%) - adding worker",
            "mailboxCount": 3_250,
            "utilizationPercent": 81.2,
            "optimalWorkers": 5,
            "executed": False,
            "checkedAt": iso(now - timedelta(seconds=20)),
            "trigger": "interval",
            "skipped": "paused",
        },
        lastError="could not count mailboxes: connection refused (is PostgreSQL running?)",
        paused={
            "paused": True,
            "until": iso(now + timedelta(hours=2)),
            "reason": "Maintenance of the mail relay",
        },
        dryRun=True,
        fleet={
            "live": 4,
            "draining": 1,
            "backlog": 17,
            "activeMailboxes": 3_125,
            "workers": workers,
        },
        alerts=[
            {
                "name": "platform_failures",
                "severity": "critical",
                "since": iso(now - timedelta(minutes=7)),
                "message": "Platform failed 3 checks in a row: docker daemon not reachable",
            },
            {
                "name": "capacity_horizon",
                "severity": "warning",
                "since": iso(now - timedelta(hours=5)),
                "message": "Capacity horizon: at +310.0 mailboxes/day the fleet at max is full in 9.5 days",
            },
        ],
    )
    return status


class FakeApi:
    """The contract's endpoints with canned answers, and the real dashboard folder, on a port.

    `status` is served as is; `mode` "ok", "502" (a proxy whose upstream is down: HTML, not JSON)
    or "refused" (the API's connections fail: redirected to a closed port).
    """

    def __init__(self, status: dict[str, Any], history: History, now: datetime) -> None:
        self.status, self.history, self.now, self.mode = status, history, now, "ok"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def samples(self, window: str) -> dict[str, Any]:
        since = self.now - WINDOWS[window]
        points = [s for s in self.history.samples if since <= s.sampled_at <= self.now]
        events = [c for c in self.history.checks if since <= c.checked_at and c.executed]
        return {
            "window": window,
            "since": iso(since),
            "until": iso(self.now),
            "points": [
                {
                    "t": iso(p.sampled_at),
                    "mailboxes": p.mailboxes,
                    "workers": p.workers,
                    "capacity": p.capacity,
                    "utilizationPercent": p.utilization_percent,
                    "backlog": p.backlog,
                }
                for p in points
            ],
            "events": [
                {
                    "t": iso(e.checked_at),
                    "action": e.action,
                    "from": e.current_workers,
                    "to": e.target_workers,
                    "reason": e.reason,
                }
                for e in events
            ],
        }

    def journal(self, limit: int) -> dict[str, Any]:
        newest = list(reversed(self.history.checks))[:limit]
        items = [
            check_json(replace(c, id=i))
            for i, c in zip(range(len(self.history.checks), 0, -1), newest, strict=False)
        ]
        return {"items": items, "nextBefore": items[-1]["id"] if len(items) == limit else None}

    def app(self) -> FastAPI:
        app = FastAPI()
        prefix = "/api/auto-scaler"
        closed = f"http://127.0.0.1:{free_port()}"

        def answer(body: Any) -> Any:
            if self.mode == "502":
                return PlainTextResponse("<html>502 Bad Gateway</html>", status_code=502)
            if self.mode == "refused":
                return RedirectResponse(f"{closed}/api", status_code=307)
            return JSONResponse(body)

        @app.get(f"{prefix}/status")
        def status() -> Any:
            return answer(self.status)

        @app.get(f"{prefix}/samples")
        def samples(window: str = "24h") -> Any:
            return answer(self.samples(window))

        @app.get(f"{prefix}/history")
        def history(limit: int = 50) -> Any:
            return answer(self.journal(limit))

        app.mount("/static", StaticFiles(directory=DASHBOARD), name="static")

        @app.get("/")
        def index() -> FileResponse:
            return FileResponse(DASHBOARD / "index.html")

        return app

    @contextmanager
    def running(self) -> Iterator[FakeApi]:
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            wait_until(lambda: server.started, 15, "the fake API")
            yield self
        finally:
            server.should_exit = True
            thread.join(15)
