"""Where alert events go: the log, always, and a webhook that can never hold up a check.

`dispatch` only logs and enqueues. One background thread per webhook posts from a bounded queue, so
a receiver that hangs or fails costs a check nothing; when the queue is full, the event is dropped
with a warning. Each post has a timeout and is retried with exponential backoff after connection
errors, timeouts, 429 and 5xx (other answers will not change on retry). The webhook URL may carry
a token (Slack's do), so logs show only its scheme and host.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from warmup_autoscaler.alerts.rules import AlertConfig, AlertEvent, AlertStatus, Severity, iso
from warmup_autoscaler.logs import get_logger

if TYPE_CHECKING:
    import httpx


__all__ = [
    "AlertDispatcher",
    "AlertSink",
    "LogSink",
    "WebhookSink",
    "build_dispatcher",
    "safe_url",
    "webhook_body",
]

WEBHOOK_ATTEMPTS = 3
WEBHOOK_BACKOFF_S = 1.0  # before the second attempt, doubled before each next one
WEBHOOK_QUEUE_SIZE = 100  # events waiting for the webhook; more are dropped with a warning

# A critical alert is an error in the log, not a CRITICAL record: the daemon itself is fine.
_LEVEL = {Severity.INFO: "info", Severity.WARNING: "warning", Severity.CRITICAL: "error"}
_LABEL = {
    AlertStatus.FIRED: "FIRING",
    AlertStatus.REPEATED: "STILL FIRING",
    AlertStatus.RESOLVED: "RESOLVED",
}


log = get_logger("warmup_autoscaler.alerts")


class AlertSink(Protocol):
    def send(self, event: AlertEvent) -> bool: ...
    def close(self, timeout_s: float) -> bool: ...


class LogSink:
    """One structured line per event, at the level of its severity (resolved: info)."""

    def send(self, event: AlertEvent) -> bool:
        level = "info" if event.status is AlertStatus.RESOLVED else _LEVEL[event.severity]
        getattr(log, level)(
            "alert",
            alert=event.name,
            status=event.status.value,
            severity=event.severity.value,
            message=event.message,
            since=iso(event.since),
            details=event.details,
        )
        return True

    def close(self, timeout_s: float) -> bool:
        return True


def webhook_body(event: AlertEvent) -> dict[str, Any]:
    """A JSON body for Slack incoming webhooks (`text`) and generic receivers (the other fields)."""
    text = f"[{_LABEL[event.status]}] {event.severity.value} {event.name}: {event.message}"
    return {
        "text": text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
        "alert": event.name,
        "status": event.status.value,
        "severity": event.severity.value,
        "message": event.message,
        "since": iso(event.since),
        "at": iso(event.at),
        "details": event.details,
        "source": "warmup-autoscaler",
    }


def safe_url(url: str) -> str:
    """Scheme and host only: what may be logged of a URL that may hold a token."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


class WebhookSink:
    """POSTs each event from a background thread; `send` never waits for the receiver."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        attempts: int = WEBHOOK_ATTEMPTS,
        backoff_s: float = WEBHOOK_BACKOFF_S,
        queue_size: int = WEBHOOK_QUEUE_SIZE,
    ) -> None:
        self._url, self.safe_url = url, safe_url(url)
        self._timeout_s, self._attempts, self._backoff_s = timeout_s, max(1, attempts), backoff_s
        self._queue: queue.Queue[AlertEvent | None] = queue.Queue(maxsize=queue_size)
        self._abort = threading.Event()  # set when close() runs out of time: stop retrying
        self._closed = False
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="alert-webhook", daemon=True)
        self._thread.start()

    def send(self, event: AlertEvent) -> bool:
        """Queue the event for the webhook; False (and a warning) if it had to be dropped."""
        try:
            if self._closed:
                raise queue.Full
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            log.warning(
                "alert_webhook_dropped",
                alert=event.name,
                status=event.status.value,
                url=self.safe_url,
                reason="closed" if self._closed else "queue full (the webhook is slow or down)",
            )
            return False
        return True

    def close(self, timeout_s: float) -> bool:
        """Deliver what is queued within `timeout_s`, then stop; False if some was not delivered."""
        self._closed = True
        deadline = time.monotonic() + timeout_s
        with contextlib.suppress(queue.Full):  # full: the abort below stops the thread instead
            self._queue.put(None, timeout=max(0.0, timeout_s))
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if not self._thread.is_alive():
            return True
        self._abort.set()
        log.warning("alert_webhook_unflushed", url=self.safe_url, queued=self._queue.qsize())
        return False

    def _run(self) -> None:
        import httpx  # only a process with a webhook pays for it (the daemon's memory budget)

        with httpx.Client(timeout=self._timeout_s) as client:
            while (event := self._queue.get()) is not None and not self._abort.is_set():
                try:
                    self._deliver(client, event)
                except Exception as exc:  # the thread must outlive any one event
                    log.error("alert_webhook_failed", alert=event.name, error=type(exc).__name__)

    def _deliver(self, client: httpx.Client, event: AlertEvent) -> None:
        body = webhook_body(event)
        for attempt in range(1, self._attempts + 1):
            error, retry = self._post(client, body)
            if error is None:
                log.debug("alert_webhook_sent", alert=event.name, attempts=attempt)
                return
            delay = self._backoff_s * 2 ** (attempt - 1)
            if not retry or attempt == self._attempts or self._abort.wait(delay):
                log.warning(
                    "alert_webhook_failed",
                    alert=event.name,
                    status=event.status.value,
                    url=self.safe_url,
                    attempts=attempt,
                    error=error,
                )
                return

    def _post(self, client: httpx.Client, body: dict[str, Any]) -> tuple[str | None, bool]:
        """(None, _) when delivered, else (what went wrong, whether a retry may help)."""
        import httpx

        try:
            response = client.post(self._url, json=body)
        except httpx.HTTPError as exc:
            text = str(exc).replace(self._url, self.safe_url)
            return f"{type(exc).__name__}: {text}" if text else type(exc).__name__, True
        if response.is_success:
            return None, False
        code = response.status_code
        return f"HTTP {code}", code == 429 or code >= 500


class AlertDispatcher:
    """Hands each event to every sink; returns at once (sinks that do I/O queue it)."""

    def __init__(self, sinks: Sequence[AlertSink]) -> None:
        self.sinks = list(sinks)

    def dispatch(self, events: Iterable[AlertEvent]) -> None:
        for event in events:
            for sink in self.sinks:
                sink.send(event)

    def close(self, timeout_s: float = 5.0) -> bool:
        """Flush every sink within `timeout_s` in all; False if something was left undelivered."""
        deadline = time.monotonic() + timeout_s
        flushed = [s.close(max(0.0, deadline - time.monotonic())) for s in self.sinks]
        return all(flushed)


def build_dispatcher(config: AlertConfig) -> AlertDispatcher:
    """The log sink, plus the webhook sink when `AUTO_SCALER_ALERT_WEBHOOK_URL` is set."""
    sinks: list[AlertSink] = [LogSink()]
    if config.webhook_url:
        timeout_s = config.webhook_timeout.total_seconds()
        sinks.append(WebhookSink(config.webhook_url, timeout_s=timeout_s))
    return AlertDispatcher(sinks)
