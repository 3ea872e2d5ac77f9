// Mailboxes against capacity (left axis) and workers (right axis) over a window, with the executed
// scale events drawn as vertical markers: green for up, orange for down. Built on uPlot (vendor/).

import * as fmt from "./format.js";

export const COLORS = {
  mailboxes: "#1d4ed8",
  capacity: "#4b5563",
  workers: "#7c3aed",
  up: "#15803d",
  down: "#c2410c",
};

// Dots only where a line cannot show: a window with one or two samples.
const sparse = (u) => u.data[0].length <= 2;

const EVENT_HIT_PX = 6; // how close the cursor must be to a marker to show its tooltip

function toSeconds(iso) {
  const t = fmt.parseTime(iso);
  return t ? t.getTime() / 1000 : null;
}

/** The plot's columns from a samples answer: x in seconds, then one array per series. */
export function columns(samples) {
  const xs = [], mailboxes = [], capacity = [], workers = [];
  for (const p of samples.points || []) {
    const x = toSeconds(p.t);
    if (x === null) continue;
    xs.push(x);
    mailboxes.push(fmt.isNum(p.mailboxes) ? p.mailboxes : null);
    capacity.push(fmt.isNum(p.capacity) ? p.capacity : null);
    workers.push(fmt.isNum(p.workers) ? p.workers : null);
  }
  return [xs, mailboxes, capacity, workers];
}

function eventMarkers(chart) {
  return {
    hooks: {
      draw: [
        (u) => {
          const { ctx } = u;
          const { top, height } = u.bbox;
          ctx.save();
          for (const e of chart.events) {
            if (e.x < u.scales.x.min || e.x > u.scales.x.max) continue;
            const x = Math.round(u.valToPos(e.x, "x", true)) + 0.5;
            const up = e.action === "scale-up";
            ctx.strokeStyle = ctx.fillStyle = up ? COLORS.up : COLORS.down;
            ctx.lineWidth = Math.max(1, devicePixelRatio);
            ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + height);
            ctx.stroke();
            const s = 5 * devicePixelRatio; // a triangle at the top: pointing up or down
            ctx.beginPath();
            ctx.moveTo(x - s, up ? top + s : top);
            ctx.lineTo(x + s, up ? top + s : top);
            ctx.lineTo(x, up ? top : top + s);
            ctx.closePath();
            ctx.fill();
          }
          ctx.restore();
        },
      ],
      setCursor: [(u) => {
        chart.showEventTip(u);
        if (u.cursor.idx === null) chart.legendLatest();
      }],
    },
  };
}

export class MailboxChart {
  /** `el` gets the plot; `tip` is an element used as the markers' tooltip. */
  constructor(el, tip) {
    this.el = el;
    this.tip = tip;
    this.events = [];
    this.range = [0, 1];
    this.plot = null;
    new ResizeObserver(() => this.resize()).observe(el);
  }

  size() {
    const width = Math.max(240, this.el.clientWidth);
    return { width, height: width < 600 ? 220 : 300 };
  }

  options() {
    const stepped = uPlot.paths.stepped({ align: 1 });
    const intTicks = (u, ticks) => ticks.map((v) => fmt.int(v));
    return {
      ...this.size(),
      plugins: [eventMarkers(this)],
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: {
        x: { time: true, range: () => this.range },
        y: { range: (u, min, max) => [0, Math.max(10, max * 1.1)] },
        workers: { range: (u, min, max) => [0, Math.max(2, Math.ceil(max * 1.25))] },
      },
      axes: [
        { stroke: "#374151", grid: { stroke: "#e5e7eb" }, ticks: { stroke: "#d1d5db" } },
        { stroke: "#374151", grid: { stroke: "#e5e7eb" }, ticks: { stroke: "#d1d5db" },
          values: intTicks, size: 64 },
        { scale: "workers", side: 1, stroke: COLORS.workers, grid: { show: false },
          values: intTicks, size: 40, incrs: [1, 2, 5, 10, 20, 50, 100] },
      ],
      series: [
        { value: (u, v) => (v === null ? fmt.NONE : fmt.time(new Date(v * 1000).toISOString())) },
        { label: "Mailboxes", stroke: COLORS.mailboxes, width: 2, fill: "rgba(29, 78, 216, 0.08)",
          points: { show: sparse },
          value: (u, v) => fmt.int(v) },
        { label: "Capacity", stroke: COLORS.capacity, width: 1.5, dash: [6, 4], paths: stepped,
          points: { show: sparse }, value: (u, v) => fmt.int(v) },
        { label: "Workers", scale: "workers", stroke: COLORS.workers, width: 1.5, paths: stepped,
          points: { show: sparse }, value: (u, v) => fmt.int(v) },
      ],
    };
  }

  /** Draw a samples answer; returns how many points and events are plotted. */
  update(samples) {
    const data = columns(samples);
    const since = toSeconds(samples.since), until = toSeconds(samples.until);
    const xs = data[0];
    this.range = [
      since ?? (xs.length ? xs[0] : Date.now() / 1000 - 86400),
      until ?? (xs.length ? xs[xs.length - 1] : Date.now() / 1000),
    ];
    this.events = (samples.events || [])
      .map((e) => ({ ...e, x: toSeconds(e.t) }))
      .filter((e) => e.x !== null && e.x >= this.range[0] && e.x <= this.range[1]);
    if (this.plot) {
      this.plot.setData(data);
    } else {
      this.plot = new uPlot(this.options(), data, this.el);
    }
    this.legendLatest();
    return { points: xs.length, events: this.events.length };
  }

  /** Off the plot, the legend shows the newest values rather than blanks. */
  legendLatest() {
    const n = this.plot ? this.plot.data[0].length : 0;
    if (n) this.plot.setLegend({ idx: n - 1 });
  }

  resize() {
    if (this.plot) this.plot.setSize(this.size());
  }

  showEventTip(u) {
    const left = u.cursor.left;
    const hit = left === null || left < 0 ? null : this.events.find(
      (e) => Math.abs(u.valToPos(e.x, "x") - left) <= EVENT_HIT_PX,
    );
    if (!hit) {
      this.tip.hidden = true;
      return;
    }
    this.tip.textContent =
      `${fmt.action(hit.action)} ${fmt.int(hit.from)} → ${fmt.int(hit.to)} workers, ` +
      `${fmt.time(hit.t)}: ${hit.reason || ""}`;
    this.tip.className = `chart-tip ${hit.action === "scale-up" ? "up" : "down"}`;
    this.tip.style.left = `${Math.min(u.over.clientWidth - 200, Math.max(0, left - 100)) + u.over.offsetLeft}px`;
    this.tip.hidden = false;
  }
}
