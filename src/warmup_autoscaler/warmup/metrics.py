"""Pool totals of the deliverability figures for `/metrics` (no per-mailbox labels, so the
series count does not grow with the pool). Read at scrape time, at most every `CACHE_S`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from warmup_autoscaler.errors import AutoscalerError
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.warmup.stats import Figures, figures
from warmup_autoscaler.warmup.store import AccountStore

__all__ = ["WarmupCollector"]

NS = "warmup_autoscaler_warmup"
CACHE_S = 15.0


class WarmupCollector(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._at = -CACHE_S
        self._cached: tuple[Figures, int, int] | None = None

    def _read(self) -> tuple[Figures, int, int] | None:
        with self._lock:
            if time.monotonic() - self._at >= CACHE_S:
                try:
                    _, total = figures(self.db)
                    accounts = AccountStore(self.db).all()
                    paused = sum(a.paused_reason is not None for a in accounts)
                    self._cached = (total, len(accounts), paused)
                except AutoscalerError:
                    self._cached = None  # tables missing or database down: no warmup series
                self._at = time.monotonic()
            return self._cached

    def collect(self) -> Iterator[Metric]:
        read = self._read()
        if read is None:
            return
        total, accounts, paused = read
        messages = GaugeMetricFamily(
            f"{NS}_messages",
            "Pool messages over the last 7 days, by what became of them.",
            labels=["outcome"],
        )
        for outcome in ("sent", "inbox", "spam", "rescued", "replied", "bounced"):
            messages.add_metric([outcome], getattr(total, outcome))
        yield messages
        if total.inbox_rate is not None:
            yield GaugeMetricFamily(
                f"{NS}_inbox_ratio",
                "Pool mail landing in the inbox, 7 days.",
                value=total.inbox_rate,
            )
        yield GaugeMetricFamily(
            f"{NS}_mailboxes", "Mailboxes with a warmup account.", value=accounts
        )
        yield GaugeMetricFamily(
            f"{NS}_paused_mailboxes",
            "Warmup mailboxes paused (safety stop or by hand).",
            value=paused,
        )
