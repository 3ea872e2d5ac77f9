// Formatting for people: the browser's locale (thousands separators), local time, "—" for unknown.

export const NONE = "—";

const intFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const pctFmt = new Intl.NumberFormat(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dayTimeFmt = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
});

export function isNum(v) {
  return typeof v === "number" && Number.isFinite(v);
}

export function int(v) {
  return isNum(v) ? intFmt.format(v) : NONE;
}

export function pct(v) {
  return isNum(v) ? `${pctFmt.format(v)}%` : NONE;
}

/** A threshold given as a fraction (0.8) as a whole percentage ("80%"). */
export function threshold(fraction) {
  return isNum(fraction) ? `${+(fraction * 100).toFixed(1)}%` : NONE;
}

export function parseTime(iso) {
  if (!iso) return null;
  const t = new Date(iso);
  return Number.isNaN(t.getTime()) ? null : t;
}

/** Local clock time, with the date when it is not today. */
export function time(iso) {
  const t = parseTime(iso);
  if (!t) return NONE;
  const today = new Date().toDateString() === t.toDateString();
  return today ? timeFmt.format(t) : dayTimeFmt.format(t);
}

/** "3 min 20 s", "2 h 5 min", "4 d 1 h": the two largest units. */
export function duration(seconds) {
  if (!isNum(seconds)) return NONE;
  let s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const units = [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]];
  const parts = [];
  for (const [name, size] of units) {
    if (s >= size && parts.length < 2) {
      parts.push(`${Math.floor(s / size)} ${name}`);
      s %= size;
    } else if (parts.length) {
      break;
    }
  }
  return parts.join(" ");
}

/** "just now", "42 s ago", "5 min ago". */
export function ago(iso, now = Date.now()) {
  const t = parseTime(iso);
  if (!t) return NONE;
  const seconds = (now - t.getTime()) / 1000;
  if (seconds < 5) return "just now";
  return `${duration(seconds)} ago`;
}

/** An action as people say it: "scale-up" -> "Scale up". */
export function action(a) {
  if (!a) return NONE;
  const text = a.replace(/-/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}
