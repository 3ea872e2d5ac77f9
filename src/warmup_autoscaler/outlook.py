"""What the policy needs besides the count now: the highest count of the scale-down stabilization
window (tracking mode; with predictive scaling, the forecasts of the window count too, so a worker
added ahead of need is not removed within the window) and a forecast of the count.

Pure (no I/O, no clock): fed one count per check, it keeps a bounded window of recent counts. The
daemon and `simulate` use this same object, so a replay decides exactly as the daemon would.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from warmup_autoscaler.alerts.growth import Sample, SampleWindow
from warmup_autoscaler.forecast import SlopeFit, forecast
from warmup_autoscaler.policy import Forecast, PolicyConfig

__all__ = ["DEFAULT_LEAD_TIME", "Outlook", "PolicyInputs", "needs_outlook"]

DEFAULT_LEAD_TIME = timedelta(seconds=60)  # until a scale-up's lead time has been measured


@dataclass(frozen=True, kw_only=True)
class PolicyInputs:
    window_peak: int | None
    forecast: Forecast | None


def needs_outlook(cfg: PolicyConfig) -> bool:
    """Only tracking mode and predictive scaling look past the count now."""
    return cfg.mode == "tracking" or cfg.predictive


class Outlook:
    """Recent counts in, policy inputs out. The forecast looks `lead_time + check_interval` ahead:
    a worker ordered now is ready after the lead time, and the next chance to order one is a
    check interval away. `lead_time` may be changed at any time (the daemon sets it when a new
    one is measured)."""

    def __init__(
        self,
        cfg: PolicyConfig,
        *,
        forecast_window: timedelta,
        check_interval: timedelta,
        lead_time: timedelta = DEFAULT_LEAD_TIME,
        slope: SlopeFit | None = None,
    ) -> None:
        self.cfg = cfg
        self.forecast_window = forecast_window
        self.check_interval = check_interval
        self.lead_time = lead_time
        self._slope = slope
        # A little longer than either window, so a count exactly one window old is still there.
        kept = max(forecast_window, cfg.scale_down_stabilization) + timedelta(minutes=1)
        self._samples = SampleWindow(kept)
        # Forecasts count as peaks too: a worker added ahead of need stays for the window.
        self._forecasts: deque[Sample] = deque()

    @property
    def horizon(self) -> timedelta:
        return self.lead_time + self.check_interval

    def preload(self, samples: Iterable[Sample]) -> None:
        """Counts from before a restart (the stored samples), oldest first or not."""
        self._samples.extend(list(samples))

    def inputs(self, now: datetime, mailboxes: int) -> PolicyInputs:
        """Record the count now and return the window's peak and (when predictive) a forecast."""
        self._samples.add(now, mailboxes)
        since = now - self.cfg.scale_down_stabilization
        peak = max((s.mailboxes for s in self._samples if since <= s.at <= now), default=mailboxes)
        ahead = None
        if self.cfg.predictive:
            ahead = forecast(
                list(self._samples),
                now=now,
                mailboxes=mailboxes,
                horizon=self.horizon,
                window=self.forecast_window,
                slope=self._slope,
            )
            if ahead is not None:
                self._forecasts.append(Sample(at=now, mailboxes=ahead.mailboxes))
            while self._forecasts and self._forecasts[0].at < since:
                self._forecasts.popleft()
            peak = max([peak, *(f.mailboxes for f in self._forecasts)])
        return PolicyInputs(window_peak=max(peak, mailboxes), forecast=ahead)
