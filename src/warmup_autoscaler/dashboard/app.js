// The dashboard's loop: poll the status (cheap: answered from the daemon's memory) every few
// seconds; fetch the journal and the samples again only when a new check has run, when the window
// changes, or once a minute. A failed request shows a banner and keeps the last figures on screen.

import { api } from "./api.js";
import { MailboxChart } from "./chart.js";
import { byId } from "./dom.js";
import * as fmt from "./format.js";
import * as views from "./views.js";
import { refreshWarmup } from "./warmup.js";

const POLL_MS = 5000;
const SLOW_REFRESH_MS = 60000;
const HISTORY_LIMIT = 20;
const WINDOWS = ["24h", "7d", "30d"];

const state = {
  window: windowFromHash(),
  lastCheckAt: undefined, // undefined: never loaded; null: loaded, no check yet
  lastOkAt: null,
  slowAt: 0,
  chart: null,
  timer: null,
  running: false,
};

function windowFromHash() {
  const match = /window=(\w+)/.exec(location.hash);
  return match && WINDOWS.includes(match[1]) ? match[1] : "24h";
}

function showBanner(message) {
  const banner = byId("banner");
  if (!message) {
    banner.hidden = true;
    document.body.dataset.status = "ok";
    return;
  }
  const last = state.lastOkAt ? fmt.time(state.lastOkAt.toISOString()) : null;
  const since = last ? ` The figures below are from ${last}.` : "";
  banner.textContent =
    `Cannot load the auto-scaler's status: ${message}. Retrying every ${POLL_MS / 1000} s.${since}`;
  byId("updated").textContent = last ? `Connection lost · last update ${last}` : "Not connected";
  for (const el of document.querySelectorAll(".placeholder")) el.textContent = "Waiting for the API…";
  banner.hidden = false;
  document.body.dataset.status = "error";
}

function sectionNote(id, message) {
  const el = byId(id);
  el.textContent = message || "";
  el.hidden = !message;
}

async function refreshStatus() {
  const s = await api.status();
  views.renderBadges(s);
  views.renderNumbers(s);
  views.renderDecision(s);
  views.renderError(s);
  views.renderAlerts(s);
  views.renderFleet(s);
  views.renderConfig(s);
  state.lastOkAt = new Date();
  byId("updated").textContent = `Updated ${fmt.time(state.lastOkAt.toISOString())} · every ${POLL_MS / 1000} s`;
  const changed = s.lastCheckAt !== state.lastCheckAt;
  state.lastCheckAt = s.lastCheckAt;
  return changed;
}

async function refreshSamples() {
  const chartEl = byId("chart");
  chartEl.setAttribute("aria-busy", "true");
  try {
    const wanted = state.window;
    const samples = await api.samples(wanted);
    if (wanted !== state.window) return; // the user switched again meanwhile
    if (!state.chart) {
      byId("chart-plot").replaceChildren();
      state.chart = new MailboxChart(byId("chart-plot"), byId("chart-tip"));
    }
    const drawn = state.chart.update(samples);
    chartEl.dataset.points = String(drawn.points);
    chartEl.dataset.events = String(drawn.events);
    chartEl.dataset.window = samples.window || wanted;
    const ups = state.chart.events.filter((e) => e.action === "scale-up").length;
    byId("event-counts").textContent =
      `${fmt.int(ups)} scale-up${ups === 1 ? "" : "s"} · ` +
      `${fmt.int(drawn.events - ups)} scale-down${drawn.events - ups === 1 ? "" : "s"} in this window`;
    byId("chart-plot").setAttribute("aria-label",
      `Mailboxes, capacity and workers over the last ${wanted}: ${drawn.points} samples, ` +
      `${ups} scale-ups, ${drawn.events - ups} scale-downs`);
    sectionNote("chart-note", drawn.points ? "" : "No samples in this window yet: one is recorded at each check.");
  } catch (err) {
    sectionNote("chart-note", `Chart not updated: ${err.message}`);
  } finally {
    chartEl.removeAttribute("aria-busy");
  }
}

async function refreshHistory() {
  try {
    const answer = await api.history(HISTORY_LIMIT);
    views.renderHistory(Array.isArray(answer.items) ? answer.items : []);
    sectionNote("decisions-note", "");
  } catch (err) {
    sectionNote("decisions-note", `Decisions not updated: ${err.message}`);
  }
}

async function tick() {
  clearTimeout(state.timer);
  if (state.running) return;
  state.running = true;
  try {
    const changed = await refreshStatus();
    const recovered = document.body.dataset.status === "error";
    showBanner(null);
    if (changed || recovered || Date.now() - state.slowAt > SLOW_REFRESH_MS) {
      state.slowAt = Date.now();
      await Promise.all([refreshSamples(), refreshHistory(), refreshWarmup()]);
    }
  } catch (err) {
    showBanner(err.message);
  } finally {
    state.running = false;
    document.body.dataset.loaded = "true";
    if (!document.hidden) state.timer = setTimeout(tick, POLL_MS);
  }
}

function selectWindow(window) {
  state.window = window;
  for (const button of document.querySelectorAll("[data-window-choice]")) {
    button.setAttribute("aria-pressed", String(button.dataset.windowChoice === window));
  }
}

function start() {
  selectWindow(state.window);
  for (const button of document.querySelectorAll("[data-window-choice]")) {
    button.addEventListener("click", () => {
      const window = button.dataset.windowChoice;
      if (window === state.window) return;
      history.replaceState(null, "", `#window=${window}`);
      selectWindow(window);
      refreshSamples();
    });
  }
  addEventListener("hashchange", () => {
    selectWindow(windowFromHash());
    refreshSamples();
  });
  // Hidden tabs stop polling; coming back refreshes at once.
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) tick();
  });
  tick();
}

start();
