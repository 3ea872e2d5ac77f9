// The what-if panel: a setting profile replayed by the daemon over the stored samples of the
// chart's window (GET whatif, the same replay as `warmup-autoscaler simulate --from-history`),
// its capacity drawn against the mailboxes and the capacity the fleet really had, with the
// figures of both. It follows the chart's window buttons and reloads once a minute.

import { getJSON } from "./api.js";
import { COLORS } from "./chart.js";
import { byId, h, replaceChildren } from "./dom.js";
import * as fmt from "./format.js";

const REFRESH_MS = 60000;
const WINDOWS = ["24h", "7d", "30d"];
const PROFILE_COLOR = "#c2410c";
const FIGURES = [
  ["underCapacityMailboxHours", "Under-capacity (mailbox-hours)", 1],
  ["workerHours", "Worker-hours", 1],
  ["scalingActions", "Scaling actions", 0],
  ["flaps", "Flaps (reversal within 30 min)", 0],
  ["hoursAboveUpThreshold", "Hours at or over the up threshold", 1],
  ["peakBacklog", "Peak backlog (mailboxes over capacity)", 0],
];

const state = { window: fromHash("window", WINDOWS, "24h"), profile: fromHash("whatif", null, "tracking"), plot: null, timer: null };

function fromHash(key, allowed, fallback) {
  const match = new RegExp(`${key}=([\\w-]+)`).exec(location.hash);
  return match && (!allowed || allowed.includes(match[1])) ? match[1] : fallback;
}

function note(message) {
  const el = byId("whatif-note");
  el.textContent = message || "";
  el.hidden = !message;
}

function number(v, decimals) {
  if (!fmt.isNum(v)) return fmt.NONE;
  return new Intl.NumberFormat(undefined, { minimumFractionDigits: decimals, maximumFractionDigits: decimals }).format(v);
}

function renderProfiles(names) {
  const select = byId("whatif-profile");
  if (select.options.length !== names.length) {
    replaceChildren("whatif-profile", names.map((n) => h("option", { value: n }, n)));
  }
  select.value = state.profile;
}

function renderFigures(answer) {
  byId("whatif-profile-head").textContent = `If “${answer.profile.name}”`;
  replaceChildren("whatif-rows", FIGURES.map(([key, label, decimals]) => {
    const was = answer.actual ? answer.actual[key] : null;
    const would = answer.simulated ? answer.simulated[key] : null;
    return h("tr", { dataset: { figure: key } },
      h("th", { scope: "row" }, label),
      h("td", { class: "num", id: `whatif-actual-${key}` }, number(was, decimals)),
      h("td", { class: "num", id: `whatif-sim-${key}` }, number(would, decimals)));
  }));
}

function options(el) {
  const width = Math.max(240, el.clientWidth);
  const stepped = uPlot.paths.stepped({ align: 1 });
  return {
    width,
    height: width < 600 ? 200 : 260,
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(10, max * 1.1)] } },
    axes: [
      { stroke: "#374151", grid: { stroke: "#e5e7eb" } },
      { stroke: "#374151", grid: { stroke: "#e5e7eb" }, values: (u, t) => t.map((v) => fmt.int(v)), size: 64 },
    ],
    series: [
      { value: (u, v) => (v === null ? fmt.NONE : fmt.time(new Date(v * 1000).toISOString())) },
      { label: "Mailboxes", stroke: COLORS.mailboxes, width: 2, value: (u, v) => fmt.int(v) },
      { label: "Capacity it had", stroke: COLORS.capacity, width: 1.5, dash: [6, 4], paths: stepped, value: (u, v) => fmt.int(v) },
      { label: "Capacity if profile", stroke: PROFILE_COLOR, width: 2, paths: stepped, value: (u, v) => fmt.int(v) },
    ],
  };
}

function renderChart(answer) {
  const points = answer.points || [];
  const data = [[], [], [], []];
  for (const p of points) {
    const t = fmt.parseTime(p.t);
    if (!t) continue;
    data[0].push(t.getTime() / 1000);
    data[1].push(p.mailboxes);
    data[2].push(p.actualCapacity);
    data[3].push(p.capacity);
  }
  const el = byId("whatif-plot");
  if (!state.plot) {
    el.replaceChildren();
    state.plot = new uPlot(options(el), data, el);
    new ResizeObserver(() => state.plot.setSize({ width: Math.max(240, el.clientWidth), height: el.clientWidth < 600 ? 200 : 260 })).observe(el);
  } else {
    state.plot.setData(data);
  }
  if (data[0].length) state.plot.setLegend({ idx: data[0].length - 1 }); // the newest, not blanks
  const chart = byId("whatif-chart");
  chart.dataset.points = String(data[0].length);
  chart.dataset.capacitySum = String(data[3].reduce((a, b) => a + b, 0));
  chart.dataset.actualCapacitySum = String(data[2].reduce((a, b) => a + b, 0));
  chart.dataset.window = answer.window;
  chart.dataset.profile = answer.profile.name;
  el.setAttribute("aria-label", `Mailboxes and capacity over the last ${answer.window}, as it was and if “${answer.profile.name}”`);
}

async function refresh() {
  clearTimeout(state.timer);
  const card = byId("whatif-card");
  card.setAttribute("aria-busy", "true");
  try {
    const wanted = `${state.window}/${state.profile}`;
    const answer = await getJSON(`whatif?window=${encodeURIComponent(state.window)}&profile=${encodeURIComponent(state.profile)}`);
    if (wanted !== `${state.window}/${state.profile}`) return; // changed meanwhile
    renderProfiles(answer.profiles || []);
    renderFigures(answer);
    renderChart(answer);
    byId("whatif-summary").textContent = answer.checks
      ? `${fmt.int(answer.checks)} stored checks of the last ${answer.window} replayed through the real decision engine with “${answer.profile.name}” (${answer.profile.mode}${answer.profile.predictive ? " + predictive" : ""}), from the workers the fleet had.`
      : "";
    note(answer.checks ? "" : "No samples in this window yet: one is recorded at each check.");
    card.dataset.loaded = "true";
  } catch (err) {
    note(`What-if not updated: ${err.message}`);
  } finally {
    card.removeAttribute("aria-busy");
    if (!document.hidden) state.timer = setTimeout(refresh, REFRESH_MS);
  }
}

function start() {
  byId("whatif-profile").addEventListener("change", (event) => {
    state.profile = event.target.value;
    refresh();
  });
  for (const button of document.querySelectorAll("[data-window-choice]")) {
    button.addEventListener("click", () => {
      state.window = button.dataset.windowChoice;
      refresh();
    });
  }
  addEventListener("hashchange", () => {
    state.window = fromHash("window", WINDOWS, state.window);
    refresh();
  });
  refresh();
}

start();
