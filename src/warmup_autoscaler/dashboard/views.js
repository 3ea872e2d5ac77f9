// Render the API's answers into the page. Every field may be null (before the first check) or
// absent (an older daemon); each shows as "—" or a sentence saying why, never as "null" or NaN.

import { byId, h, replaceChildren, setText } from "./dom.js";
import * as fmt from "./format.js";

const SKIPPED = { "dry-run": "dry run", disabled: "disabled", paused: "paused" };

function badge(kind, text, title) {
  return h("span", { class: `badge badge-${kind}`, title }, text);
}

export function renderBadges(s) {
  const badges = [];
  const paused = s.paused && s.paused.paused;
  if (s.enabled === false) badges.push(badge("off", "Disabled", "AUTO_SCALER_ENABLED=false: decisions are not executed"));
  if (paused) {
    const until = s.paused.until ? ` until ${fmt.time(s.paused.until)}` : "";
    badges.push(badge("paused", `Paused${until}`, s.paused.reason || "Paused: decisions are not executed"));
  }
  if (s.dryRun) badges.push(badge("dry", "Dry run", "AUTO_SCALER_DRY_RUN=true: decisions are journaled, not executed"));
  if (!badges.length) badges.push(badge("on", "Scaling active", "Decisions are executed"));
  const cfg = s.config || {};
  if (cfg.platform) badges.push(badge("info", `${cfg.platform} · ${cfg.scalingMode || "step"}`, "platform · scaling mode"));
  replaceChildren("badges", badges);
  byId("pause-reason").textContent = paused && s.paused.reason ? `Paused: ${s.paused.reason}` : "";
  byId("pause-reason").hidden = !(paused && s.paused.reason);
}

export function renderNumbers(s) {
  const cfg = s.config || {};
  const workers = s.currentWorkers, per = cfg.mailboxesPerWorker;
  setText("workers-value", fmt.int(workers), workers);
  replaceChildren("workers-sub",
    fmt.isNum(s.optimalWorkers) ? h("span", { class: "nowrap" }, `optimal ${fmt.int(s.optimalWorkers)}`) : null,
    fmt.isNum(s.optimalWorkers) ? " · " : null,
    h("span", { class: "nowrap" }, `bounds ${fmt.int(cfg.minWorkers)}–${fmt.int(cfg.maxWorkers)}`));

  setText("mailboxes-value", fmt.int(s.mailboxCount), s.mailboxCount);
  const capacity = fmt.isNum(workers) && fmt.isNum(per) ? workers * per : null;
  setText("capacity-value", fmt.int(capacity), capacity);
  setText("per-worker", fmt.int(per));

  const u = s.utilizationPercent;
  const over = !fmt.isNum(u) && workers === 0 && s.mailboxCount > 0;
  setText("utilization-value", over ? "No capacity" : fmt.pct(u), u);
  renderGauge(u, over, cfg);
  renderCooldowns(s);
}

function renderGauge(u, over, cfg) {
  const down = (cfg.scaleDownThreshold ?? 0) * 100, up = (cfg.scaleUpThreshold ?? 1) * 100;
  const fill = byId("gauge-fill");
  const value = over ? 100 : fmt.isNum(u) ? Math.min(100, u) : 0;
  fill.style.width = `${value}%`;
  const level = over || (fmt.isNum(u) && u >= up) ? "high" : fmt.isNum(u) && u <= down ? "low" : "ok";
  fill.className = `gauge-fill ${level}`;
  byId("mark-down").style.left = `${down}%`;
  byId("mark-up").style.left = `${up}%`;
  byId("gauge").setAttribute("aria-valuenow", fmt.isNum(u) ? String(u) : "");
  byId("gauge").setAttribute("aria-valuetext", over ? "no capacity" : fmt.pct(u));
  setText("threshold-down", fmt.threshold(cfg.scaleDownThreshold), cfg.scaleDownThreshold);
  setText("threshold-up", fmt.threshold(cfg.scaleUpThreshold), cfg.scaleUpThreshold);
}

function cooldownText(left, can, atBoundText, known) {
  if (fmt.isNum(left) && left > 0) return [`${fmt.duration(left)} left`, "wait"];
  if (!known) return [fmt.NONE, ""];
  return can ? ["Ready", "ready"] : [atBoundText, "bound"];
}

function renderCooldowns(s) {
  const c = s.cooldowns || {}, cfg = s.config || {};
  const known = fmt.isNum(s.currentWorkers);
  const rows = [
    ["cooldown-up", c.scaleUpSecondsLeft, s.canScaleUp, `At maximum (${fmt.int(cfg.maxWorkers)})`],
    ["cooldown-down", c.scaleDownSecondsLeft, s.canScaleDown, `At minimum (${fmt.int(cfg.minWorkers)})`],
  ];
  for (const [id, left, can, bound] of rows) {
    const [text, kind] = cooldownText(left, can, bound, known);
    setText(id, text, left).className = `cooldown ${kind}`;
  }
  const last = (iso) => (iso ? fmt.ago(iso) : "never");
  setText("last-up", last(s.lastScaleUpAt), s.lastScaleUpAt).title = fmt.time(s.lastScaleUpAt);
  setText("last-down", last(s.lastScaleDownAt), s.lastScaleDownAt).title = fmt.time(s.lastScaleDownAt);
}

function executedText(d) {
  if (d.error) return ["Failed", "bad"];
  if (d.executed) return ["Executed", "good"];
  if (d.action === "no-change" || !d.action) return [fmt.NONE, "none"];
  const skipped = d.skipped || (d.dryRun ? "dry-run" : null);
  return [skipped ? `Not executed (${SKIPPED[skipped] || skipped})` : "Not executed", "warn"];
}

export function renderDecision(s) {
  const d = s.lastDecision;
  if (!d) {
    replaceChildren("decision-body", h("p", { class: "muted" }, s.lastCheckAt
      ? "No decision yet: the last check failed before deciding (see the error)."
      : "No check has run yet."));
    return;
  }
  const [done, kind] = executedText(d);
  const change = d.action === "no-change";
  replaceChildren("decision-body",
    h("div", { class: "decision-line" },
      h("span", { class: `chip action-${d.action}`, id: "decision-action" }, fmt.action(d.action)),
      h("span", { class: "decision-workers" }, change
        ? `stays at ${fmt.int(d.currentWorkers)} workers`
        : `${fmt.int(d.currentWorkers)} → ${fmt.int(d.targetWorkers)} workers`),
      change ? null : h("span", { class: `chip state-${kind}` }, done)),
    h("p", { class: "reason", id: "decision-reason" }, d.reason || fmt.NONE),
    h("p", { class: "muted small" },
      `${fmt.time(d.checkedAt)} (${fmt.ago(d.checkedAt)}) · trigger ${d.trigger || fmt.NONE}`,
      ` · ${fmt.int(d.mailboxCount)} mailboxes at ${fmt.pct(d.utilizationPercent)}`));
}

export function renderError(s) {
  byId("last-error").hidden = !s.lastError;
  byId("last-error-text").textContent = s.lastError || "";
}

export function renderAlerts(s) {
  const card = byId("alerts-card");
  if (!Array.isArray(s.alerts)) {
    card.dataset.count = "";
    card.classList.remove("firing", "has-alerts");
    replaceChildren("alerts-body", h("p", { class: "muted" }, "Alerts are not reported by this server."));
    return;
  }
  card.dataset.count = String(s.alerts.length);
  card.classList.toggle("firing", s.alerts.some((a) => a.severity === "critical"));
  card.classList.toggle("has-alerts", s.alerts.length > 0);
  if (!s.alerts.length) {
    replaceChildren("alerts-body", h("p", { class: "ok-text" }, "✓ No alerts firing"));
    return;
  }
  replaceChildren("alerts-body", h("ul", { class: "alert-list" }, s.alerts.map((a) =>
    h("li", { class: `alert alert-${a.severity}` },
      h("span", { class: `chip sev-${a.severity}` }, a.severity || "alert"),
      h("strong", {}, a.name ?? a.alert ?? ""),
      h("span", { class: "alert-message" }, a.message || ""),
      h("span", { class: "muted small" }, `since ${fmt.time(a.since)} (${fmt.ago(a.since)})`)))));
}

export function renderFleet(s) {
  const f = s.fleet;
  const card = byId("fleet-card");
  if (!f) {
    card.dataset.workers = "";
    replaceChildren("fleet-summary", h("p", { class: "muted" },
      "No worker registry reported yet (workers register when they start; the fleet is read at each check)."));
    replaceChildren("fleet-rows");
    byId("fleet-table").hidden = true;
    return;
  }
  const workers = Array.isArray(f.workers) ? f.workers : [];
  card.dataset.workers = String(workers.length);
  const stat = (label, value, id) => h("div", { class: "stat" },
    h("span", { class: "stat-value", id, dataset: { value: value ?? "" } }, fmt.int(value)),
    h("span", { class: "stat-label" }, label));
  replaceChildren("fleet-summary", h("div", { class: "stats" },
    stat("live", f.live, "fleet-live"), stat("draining", f.draining, "fleet-draining"),
    stat("backlog", f.backlog, "fleet-backlog"), stat("active mailboxes", f.activeMailboxes, "fleet-active")));
  byId("fleet-table").hidden = workers.length === 0;
  replaceChildren("fleet-rows", workers.map((w) => h("tr", {},
    h("td", {}, w.name || w.id || fmt.NONE),
    h("td", {}, h("span", { class: `chip worker-${w.state}` }, w.state || fmt.NONE)),
    h("td", { class: "num" }, fmt.int(w.owned)),
    h("td", { class: "num" }, fmt.isNum(w.heartbeatAgeSeconds) ? fmt.duration(w.heartbeatAgeSeconds) : fmt.NONE),
    h("td", { class: "muted" }, `${w.host || fmt.NONE} · ${fmt.int(w.pid)}`))));
}

export function renderHistory(items) {
  byId("decisions").dataset.rows = String(items.length);
  if (!items.length) {
    replaceChildren("decision-rows", h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No decisions journaled yet.")));
    return;
  }
  replaceChildren("decision-rows", items.map((d) => {
    const [done, kind] = executedText(d);
    const moved = fmt.isNum(d.currentWorkers) ? `${fmt.int(d.currentWorkers)} → ${fmt.int(d.targetWorkers)}` : fmt.NONE;
    return h("tr", { class: d.action ? `row-${d.action}` : "row-error" },
      h("td", { class: "c-time nowrap" }, fmt.time(d.checkedAt)),
      h("td", { class: "c-action" }, d.action
        ? h("span", { class: `chip action-${d.action}` }, fmt.action(d.action))
        : h("span", { class: "chip state-bad" }, "Failed")),
      h("td", { class: "c-workers num" }, moved),
      h("td", { class: "c-mailboxes num" }, fmt.int(d.mailboxCount)),
      h("td", { class: "c-util num" }, fmt.pct(d.utilizationPercent)),
      h("td", { class: "c-reason" }, d.reason || d.error || fmt.NONE),
      h("td", { class: "c-exec" }, h("span", { class: `chip state-${kind}` }, done)));
  }));
}

export function renderConfig(s) {
  const c = s.config || {};
  const interval = fmt.isNum(c.checkIntervalMs) ? fmt.duration(c.checkIntervalMs / 1000) : fmt.NONE;
  byId("config-line").textContent =
    `Checks every ${interval} · ${fmt.int(c.mailboxesPerWorker)} mailboxes per worker · ` +
    `cooldowns ${fmt.duration((c.scaleUpCooldownMs ?? NaN) / 1000)} up, ` +
    `${fmt.duration((c.scaleDownCooldownMs ?? NaN) / 1000)} down · last check ${fmt.time(s.lastCheckAt)}`;
}
