"""The daemon: checks at start and every interval, with the API served in the same process.

Several daemons may share one database: they elect a leader (`leadership`), and only the leader
checks; the others serve the API as standbys and take over when the leader stops renewing.

Stops cleanly on SIGINT/SIGTERM: a running check is finished (a scale is never cut in half), the
lease is released (a standby takes over at once), the API stops, then the platform stops what it
supervises (the local platform's workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import uvicorn

from warmup_autoscaler.alerts import Alerting
from warmup_autoscaler.alerts.growth import Sample
from warmup_autoscaler.api import create_app
from warmup_autoscaler.config import ApiSettings, Settings, load_settings
from warmup_autoscaler.controller import Controller, utc_now
from warmup_autoscaler.errors import (
    AutoscalerError,
    ConfigError,
    NotLeaderError,
    PlatformError,
    StoreError,
)
from warmup_autoscaler.foresight import Foresight
from warmup_autoscaler.leadership import Election, new_instance_id
from warmup_autoscaler.logs import configure_logging, get_logger
from warmup_autoscaler.metrics import Metrics
from warmup_autoscaler.platforms import PlatformContext, create_platform, platform_class
from warmup_autoscaler.platforms.base import Platform
from warmup_autoscaler.preflight import check_mailbox_query
from warmup_autoscaler.sensor import MailboxCounter
from warmup_autoscaler.status import CheckResult
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.history import HistoryStore
from warmup_autoscaler.store.leader import LeaderStore
from warmup_autoscaler.store.migrate import upgrade
from warmup_autoscaler.store.state import CheckRecord, ScalerState, StateStore
from warmup_autoscaler.store.workers import FleetSnapshot, count_live_workers, fleet_snapshot
from warmup_autoscaler.warmup.alerts import paused_mailbox_alerts
from warmup_autoscaler.warmup.metrics import WarmupCollector
from warmup_autoscaler.watch.reaction import react_to_changes

__all__ = ["Daemon", "run_daemon", "start"]

log = get_logger("warmup_autoscaler.daemon")

PRUNE_INTERVAL_S = 3600.0
FOLLOW_INTERVAL_S = 5.0  # a standby reads the leader's last checks at least this often
FOLLOW_CHECKS = 20  # how far back a standby looks for the leader's last decision


class _Server(uvicorn.Server):
    """uvicorn, minus its own signal handling: the daemon owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Daemon:
    settings: Settings
    db: Database
    platform: Platform
    controller: Controller
    history: HistoryStore
    metrics: Metrics
    alerting: Alerting
    election: Election

    @classmethod
    def build(cls, settings: Settings) -> Daemon:
        """Wire the rooms: the sensor, the platform and the store feed the controller, whose
        checks the alerts and the metrics observe."""
        db = Database(
            settings.database.sqlalchemy_url, query_timeout_ms=settings.database.query_timeout_ms
        )
        ttl_ms = settings.worker.lease_ttl_ms
        platform = create_platform(
            settings, PlatformContext(live_workers=lambda: _live(db, ttl_ms))
        )
        history = HistoryStore(db)
        foresight = Foresight.build(
            settings, db, history, live_workers=lambda: _live(db, ttl_ms), clock=utc_now
        )
        lease = LeaderStore(
            db, instance=new_instance_id(), lease_ms=settings.daemon.leader_lease_ms
        )
        # A dry run takes no part in the election: a shadow beside the live leader never leads.
        election = Election(lease, contend=not settings.daemon.dry_run, prepare=lambda: upgrade(db))
        policy = settings.policy.to_policy()
        alerting = Alerting.from_settings(settings.alerts, policy)
        controller = Controller(
            settings=settings,
            counter=MailboxCounter(db, settings.database.mailbox_query),
            platform=platform,
            journal=StateStore(db),
            prepare=lambda: upgrade(db),
            resume_fleet=platform_class(settings.daemon.platform).supervises_workers,
            history=history,
            fleet=lambda: fleet_snapshot(db, ttl_ms),
            alerts=alerting.firing,
            outlook=foresight.outlook,
            leadership=election,
        )
        election.on_change = controller.leadership_changed
        metrics = Metrics(lambda: controller.status, controller.clock)
        metrics.registry.register(WarmupCollector(db))
        controller.observers += [alerting.observe, metrics.observe, foresight.observe]
        return cls(
            settings=settings,
            db=db,
            platform=platform,
            controller=controller,
            history=history,
            metrics=metrics,
            alerting=alerting,
            election=election,
        )

    async def serve(self, sock: socket.socket) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        config = uvicorn.Config(
            create_app(
                self.controller, history=self.history, metrics=self.metrics, alerting=self.alerting
            ),
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        server = _Server(config)
        server_task = asyncio.create_task(server.serve(sockets=[sock]))
        await asyncio.to_thread(self._preload_growth)
        standing_down: set[asyncio.Task[None]] = set()

        def stand_down() -> None:
            task = asyncio.create_task(self.controller.stand_down())
            standing_down.add(task)
            task.add_done_callback(standing_down.discard)

        self.election.on_lost = stand_down
        await asyncio.to_thread(self.election.round)
        self.election.settle()
        election_stop = asyncio.Event()
        election = asyncio.create_task(self.election.run(election_stop))
        reaction = react_to_changes(self.settings, self.db, _WhileActing(self), stop)
        checks = asyncio.create_task(self._check_loop(stop))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({server_task, checks, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        log.info("stopping", reason="signal" if not server_task.done() else "api server stopped")
        await checks
        await reaction.close()
        await self.controller.flush()
        election_stop.set()
        await election
        await self.election.release()
        server.should_exit = True
        await server_task
        stopper.cancel()

    async def _check_loop(self, stop: asyncio.Event) -> None:
        """Check every interval while leading (or as a dry-run shadow); a new leader checks at
        once (trigger `elected`, or `startup` for the daemon's first check)."""
        interval_s = self.settings.daemon.check_interval_ms / 1000
        elected = self.election.elected
        checked = False
        next_prune = 0.0
        while not stop.is_set():
            trigger = "interval" if checked else "startup"
            if elected.is_set():
                elected.clear()
                trigger = "elected" if checked else "startup"
            wait_s = interval_s
            if self.acting:
                await paused_mailbox_alerts(self.db, self.alerting)
                if await _WhileActing(self).check(trigger, wait_journal=False) is not None:
                    checked = True
                if time.monotonic() >= next_prune and self.election.current() is not None:
                    next_prune = time.monotonic() + PRUNE_INTERVAL_S
                    await self._prune()
            else:
                await self._follow()
                wait_s = min(interval_s, FOLLOW_INTERVAL_S)
            waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(elected.wait())}
            await asyncio.wait(waits, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()

    @property
    def acting(self) -> bool:
        """Whether this instance checks: while it leads, and always as a dry-run shadow."""
        return self.election.current() is not None or self.settings.daemon.dry_run

    async def _follow(self) -> None:
        """A standby shows the leader's last checks, state and fleet, read from the database."""
        ttl_ms = self.settings.worker.lease_ttl_ms

        def read() -> tuple[ScalerState, list[CheckRecord], FleetSnapshot]:
            checks = self.history.checks(limit=FOLLOW_CHECKS)
            return StateStore(self.db).load(), checks, fleet_snapshot(self.db, ttl_ms)

        try:
            state, checks, fleet = await asyncio.to_thread(read)
        except AutoscalerError as exc:
            log.debug("follow_failed", error=exc.message)
            return
        self.controller.follow(state, checks, fleet)

    def _preload_growth(self) -> None:
        """Give the growth projection the stored samples, so a restart does not blind it."""
        now = utc_now()
        window = self.alerting.config.growth_window
        try:
            stored = self.history.samples(now - window, now, max_points=2000)
        except AutoscalerError as exc:
            log.info("growth_preload_skipped", error=exc.message)
            return
        self.alerting.preload(
            [
                Sample(at=s.sampled_at, mailboxes=s.mailboxes)
                for s in stored
                if s.mailboxes is not None
            ]
        )

    async def _prune(self) -> None:
        """Drop samples and journal entries past AUTO_SCALER_HISTORY_RETENTION_DAYS."""
        cutoff = utc_now() - timedelta(days=self.settings.database.history_retention_days)
        try:
            deleted = await asyncio.to_thread(self.history.prune, cutoff)
        except AutoscalerError as exc:
            log.warning("prune_failed", error=exc.message)
            return
        if deleted:
            log.info("pruned_history", rows=deleted, olderThan=cutoff.isoformat())

    def close(self) -> None:
        self.alerting.close(5.0)
        self.platform.close()
        self.db.dispose()


class _WhileActing:
    """The controller's `check` for the daemon's own triggers (its loop, a change seen): it runs
    only while the daemon acts; on a standby it answers None (the leader checks)."""

    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon

    async def check(self, trigger: str, *, wait_journal: bool = True) -> CheckResult | None:
        if not self._daemon.acting:
            return None
        try:
            return await self._daemon.controller.check(trigger, wait_journal=wait_journal)
        except NotLeaderError:  # lost between the two lines
            return None


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind the API's socket before anything starts, so a busy port is a one-line error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise AutoscalerError(
            f"cannot listen on {host}:{port} ({exc.strerror}); is another auto-scaler running? "
            f"Set {ApiSettings.env_name('port')} or {ApiSettings.env_name('host')}"
        ) from exc
    # Accepted connections inherit TCP_NODELAY from this socket. Without it, uvicorn's separate
    # header and body writes meet Nagle's algorithm and delayed ACKs: ~40 ms per response, 6x
    # fewer requests per second (measured with wrk; asyncio sets it only on sockets it creates).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.listen(128)
    sock.set_inheritable(False)
    return sock


def _live(db: Database, lease_ttl_ms: int) -> int:
    """The live registered workers, for platforms that cannot count their own."""
    try:
        return count_live_workers(db, lease_ttl_ms)
    except StoreError as exc:
        raise PlatformError(f"cannot count live workers in the registry: {exc.message}") from exc


def run_daemon(settings: Settings) -> None:
    api = settings.api
    sock = bind_socket(api.host, api.port)
    daemon = Daemon.build(settings)
    try:
        query = check_mailbox_query(daemon.db, settings.database.mailbox_query)
    except ConfigError:
        daemon.close()
        sock.close()
        raise
    log.info(
        "starting",
        instance=daemon.election.instance,
        platform=settings.daemon.platform,
        api=f"http://{api.host}:{api.port}",
        checkIntervalMs=settings.daemon.check_interval_ms,
        enabled=settings.daemon.enabled,
        database=settings.database.safe_url,
    )
    try:
        if query.unavailable:
            log.warning("mailbox_query_unchecked", error=query.unavailable)
        daemon.platform.start()
        asyncio.run(daemon.serve(sock))
    finally:
        daemon.close()
        sock.close()
        log.info("stopped")


def start(env_file: Path | None) -> None:
    """`warmup-autoscaler run`: read the settings, set up the logs, run until stopped."""
    settings = load_settings(env_file)
    configure_logging(settings.logs.format, settings.logs.level)
    run_daemon(settings)
