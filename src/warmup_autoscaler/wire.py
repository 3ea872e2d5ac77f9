"""The JSON shapes of the API (and of the CLI's `--json`): the only place values become dicts.

The status keeps the seed's field names and adds lastCheckAt, lastDecision, lastError, paused,
dryRun, fleet, alerts and leader. Times are ISO 8601 with `Z`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from warmup_autoscaler.status import CheckResult, LeaderView, Status
from warmup_autoscaler.store.history import SampleRecord
from warmup_autoscaler.store.state import CheckRecord
from warmup_autoscaler.store.workers import FleetSnapshot

__all__ = [
    "as_utc",
    "check_json",
    "decision_json",
    "fleet_json",
    "iso",
    "leader_json",
    "sample_json",
    "status_json",
]

UTC_RANGE = "a time between 0001-01-01 and 9999-12-31 in UTC"


def iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t else None


def as_utc(t: datetime) -> datetime:
    """`t` in UTC (a time without a zone is taken as UTC, as the journal stores times); raises
    ValueError for a time that has no UTC equivalent (0001-01-01T00:00:00+14:00)."""
    if t.tzinfo is None:
        return t.replace(tzinfo=UTC)
    try:
        return t.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"must be {UTC_RANGE}") from exc


def status_json(status: Status, now: datetime) -> dict[str, Any]:
    """The seed's status shape, with the facts that depend on `now` worked out for `now`."""
    p, state = status.policy, status.state
    paused = status.paused(now)
    return {
        "enabled": status.enabled,
        "currentWorkers": status.current_workers,
        "mailboxCount": status.mailbox_count,
        "utilizationPercent": status.utilization_percent,
        "optimalWorkers": status.optimal_workers,
        "canScaleUp": status.can_scale_up(now),
        "canScaleDown": status.can_scale_down(now),
        "config": {
            "enabled": status.enabled,
            "checkIntervalMs": status.check_interval_ms,
            "mailboxesPerWorker": p.mailboxes_per_worker,
            "minWorkers": p.min_workers,
            "maxWorkers": p.max_workers,
            "scaleUpThreshold": p.scale_up_threshold,
            "scaleDownThreshold": p.scale_down_threshold,
            "platform": status.platform,
            "scaleUpCooldownMs": round(p.scale_up_cooldown.total_seconds() * 1000),
            "scaleDownCooldownMs": round(p.scale_down_cooldown.total_seconds() * 1000),
            "scalingMode": p.mode,
            "maxStep": p.max_step,
            "targetUtilization": p.target_utilization,
            "predictive": p.predictive,
        },
        "cooldowns": {
            "scaleUpSecondsLeft": status.scale_up_cooldown_left(now).total_seconds(),
            "scaleDownSecondsLeft": status.scale_down_cooldown_left(now).total_seconds(),
        },
        "lastScaleUpAt": iso(state.last_scale_up_at),
        "lastScaleDownAt": iso(state.last_scale_down_at),
        "lastCheckAt": iso(status.last_check.checked_at if status.last_check else None),
        "lastDecision": decision_json(status.last_decision),
        "lastError": status.last_error,
        "paused": {
            "paused": paused,
            "until": iso(state.paused_until) if paused else None,
            "reason": state.pause_reason if paused else None,
        },
        "dryRun": status.dry_run,
        "fleet": fleet_json(status.fleet) if status.fleet else None,
        "alerts": [a.to_dict() for a in status.alerts],
        "leader": leader_json(status.leader, now),
    }


def leader_json(leader: LeaderView | None, now: datetime) -> dict[str, Any] | None:
    """Who leads: this instance's role and id, the lease's term, holder and time left."""
    if leader is None:
        return None
    return {
        "role": leader.role,
        "instance": leader.instance,
        "term": leader.term,
        "leaderInstance": leader.leader_instance,
        "leaseExpiresInMs": leader.lease_expires_in_ms(now),
        "error": leader.error,
    }


def decision_json(result: CheckResult | None) -> dict[str, Any] | None:
    """A check's decision in the seed's shape, with when, why and whether it was carried out."""
    if result is None or result.decision is None:
        return None
    return {
        **result.decision.to_dict(),
        "executed": result.executed,
        "checkedAt": iso(result.checked_at),
        "trigger": result.trigger,
        "skipped": result.skipped,
        "instance": result.instance,
        "term": result.term,
    }


def fleet_json(fleet: FleetSnapshot) -> dict[str, Any]:
    return {
        "workers": [
            {
                "id": w.id,
                "name": w.name,
                "host": w.host,
                "pid": w.pid,
                "state": w.state,
                "owned": w.owned,
                "heartbeatAgeMs": w.heartbeat_age_ms,
                "heartbeatAgeSeconds": round(w.heartbeat_age_ms / 1000, 1),
                "startedAtMs": w.started_at_ms,
            }
            for w in fleet.workers
        ],
        "live": fleet.live,
        "draining": fleet.draining,
        "backlog": fleet.backlog,
        "activeMailboxes": fleet.active_mailboxes,
    }


def check_json(c: CheckRecord) -> dict[str, Any]:
    """A journaled check (the history endpoint and `history --json`)."""
    return {
        "id": c.id,
        "checkedAt": iso(c.checked_at),
        "trigger": c.trigger,
        "action": c.action,
        "currentWorkers": c.current_workers,
        "targetWorkers": c.target_workers,
        "optimalWorkers": c.optimal_workers,
        "mailboxCount": c.mailbox_count,
        "utilizationPercent": c.utilization_percent,
        "reason": c.reason,
        "executed": c.executed,
        "skipped": c.skipped,
        "dryRun": c.skipped == "dry-run",
        "error": c.error,
        "durationMs": c.duration_ms,
        "instance": c.instance,
        "term": c.term,
    }


def sample_json(p: SampleRecord) -> dict[str, Any]:
    return {
        "t": iso(p.sampled_at),
        "mailboxes": p.mailboxes,
        "workers": p.workers,
        "capacity": p.capacity,
        "utilizationPercent": p.utilization_percent,
        "backlog": p.backlog,
    }
