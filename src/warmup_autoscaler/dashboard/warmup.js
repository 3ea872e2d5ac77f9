// The deliverability panel: the warmup pool's 7-day figures and its mailboxes, paused ones
// first, then the lowest inbox rates. Fetched with the journal (when a check has run, or once a
// minute), not every poll: it reads the database.

import { getJSON } from "./api.js";
import { byId, h, replaceChildren } from "./dom.js";
import * as fmt from "./format.js";

const ROWS = 50;

function rate(r) {
  return fmt.isNum(r) ? fmt.pct(r * 100) : fmt.NONE;
}

function stat(label, value, id, text) {
  return h("div", { class: "stat" },
    h("span", { class: "stat-value", id, dataset: { value: value ?? "" } }, text ?? fmt.int(value)),
    h("span", { class: "stat-label" }, label));
}

function order(a, b) {
  if (a.paused !== b.paused) return a.paused ? -1 : 1;
  const ra = a.figures.inboxRate ?? 2, rb = b.figures.inboxRate ?? 2;
  return ra - rb || a.mailboxId - b.mailboxId;
}

function row(m) {
  const f = m.figures;
  const state = m.paused
    ? h("span", { class: "chip state-bad", title: m.pausedReason || "" }, m.pausedBy === "safety" ? "Safety stop" : "Paused")
    : h("span", { class: `chip ${m.enabled ? "state-good" : "state-none"}` }, m.enabled ? "Warming" : "Disabled");
  return h("tr", { dataset: { mailbox: m.mailboxId } },
    h("td", {}, m.email), h("td", {}, state),
    ...["sent", "inbox", "spam", "rescued", "replied", "bounced"].map((k) => h("td", { class: "num" }, fmt.int(f[k]))),
    h("td", { class: "num" }, rate(f.inboxRate)),
    h("td", { class: "muted small" }, m.paused ? m.pausedReason || "" : ""));
}

export function renderWarmup(body) {
  const card = byId("warmup-card");
  const p = body.pool || {};
  const mailboxes = Array.isArray(body.mailboxes) ? body.mailboxes : [];
  card.dataset.mailboxes = String(mailboxes.length);
  if (!mailboxes.length) {
    replaceChildren("warmup-summary", h("p", { class: "muted" },
      "No warmup mailboxes yet: add them with `warmup-autoscaler mailbox import FILE.csv`."));
    byId("warmup-table").hidden = true;
    return;
  }
  replaceChildren("warmup-summary", h("div", { class: "stats" },
    stat("inbox rate, 7 d", p.inboxRate, "warmup-inbox-rate", rate(p.inboxRate)),
    stat("sent", p.sent, "warmup-sent"), stat("landed in spam", p.spam, "warmup-spam"),
    stat("rescued", p.rescued, "warmup-rescued"), stat("replied", p.replied, "warmup-replied"),
    stat("bounced", p.bounced, "warmup-bounced"), stat("mailboxes", p.mailboxes, "warmup-mailboxes"),
    stat("paused", p.paused, "warmup-paused")));
  byId("warmup-table").hidden = false;
  const shown = [...mailboxes].sort(order).slice(0, ROWS);
  replaceChildren("warmup-rows", shown.map(row));
  byId("warmup-more").textContent = mailboxes.length > ROWS
    ? `Showing ${ROWS} of ${fmt.int(mailboxes.length)} mailboxes (paused and lowest inbox rate first).` : "";
}

export async function refreshWarmup() {
  const note = byId("warmup-note");
  try {
    renderWarmup(await getJSON("mailboxes", "api/warmup"));
    note.hidden = true;
  } catch (err) {
    note.textContent = `Deliverability not updated: ${err.message}`;
    note.hidden = false;
  }
}
