// Charts (uPlot): metric charts, one per key, value over step, one line per task; a metric
// logged once is a number, not a chart of one point; duration trends over runs; a metric of
// several runs overlaid, one line per run (the compare page).
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { html, duration, number } from "./ui.js";

export const COLORS = ["#4f46e5", "#16a34a", "#dc2626", "#d97706", "#0891b2", "#9333ea", "#db2777", "#65a30d"];

/** points: [{task_key, value, step}] of one key. */
function series(points) {
  const byTask = new Map();
  points.forEach((p, i) => {
    if (!byTask.has(p.task_key)) byTask.set(p.task_key, new Map());
    byTask.get(p.task_key).set(p.step ?? i, p.value);
  });
  const steps = [...new Set([...byTask.values()].flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
  const tasks = [...byTask.keys()];
  return { tasks, data: [steps, ...tasks.map((t) => steps.map((s) => byTask.get(t).get(s) ?? null))] };
}

/** Axis colours from the theme, read when a chart is made (so dark mode gets its own). */
function axis() {
  const css = getComputedStyle(document.documentElement);
  return { stroke: css.getPropertyValue("--muted"), grid: { stroke: css.getPropertyValue("--border"), width: 1 }, ticks: { stroke: css.getPropertyValue("--border") } };
}

/** A uPlot chart in `host`, made again only when `shape` (its series, the theme) changes;
 *  otherwise its data is replaced. */
function usePlot(host, shape, data, options) {
  const plot = useRef(null);
  const made = useRef("");
  useEffect(() => {
    const key = shape + document.documentElement.dataset.theme;
    if (plot.current && made.current === key) { plot.current.setData(data); return; }
    plot.current?.destroy();
    made.current = key;
    plot.current = new uPlot({ width: Math.max(280, host.current.clientWidth), height: 200, ...options() }, data, host.current);
  }, [data]);
  useEffect(() => () => plot.current?.destroy(), []);
}

/** A metric key: a chart over steps, or its value(s) as numbers when it was logged once. */
export function Metric({ name, points }) {
  const { tasks, data } = series(points);
  if (data[0].length === 1) {
    return html`<div class="chart metric-number" data-metric=${name}><div class="label">${name}</div>
      ${tasks.map((t, i) => html`<div><span class="number" data-testid="metric-value">${number(data[i + 1][0])}</span>${tasks.length > 1 ? html` <small>${t}</small>` : null}</div>`)}</div>`;
  }
  return html`<${MetricChart} name=${name} tasks=${tasks} data=${data} />`;
}

function MetricChart({ name, tasks, data }) {
  const host = useRef(null);
  usePlot(host, tasks.join(","), data, () => ({
    scales: { x: { time: false } },
    axes: [{ ...axis(), label: "step" }, axis()],
    series: [{ label: "step" }, ...tasks.map((t, i) => ({ label: t, stroke: COLORS[i % COLORS.length], width: 2,
      points: { show: data[0].length < 30 } }))],
  }));
  return html`<div class="chart" data-metric=${name}><div class="label">${name}</div><div ref=${host}></div></div>`;
}

/** Durations over runs: `points` [{run, seconds}] oldest first; x is the run's number. */
export function TrendChart({ name, points }) {
  const host = useRef(null);
  const data = [points.map((p) => p.run), points.map((p) => p.seconds)];
  usePlot(host, "trend", data, () => ({
    scales: { x: { time: false } },
    axes: [{ ...axis(), label: "run", values: (_, ticks) => ticks.map((t) => (Number.isInteger(t) ? `#${t}` : "")) },
           { ...axis(), values: (_, ticks) => ticks.map((t) => duration(t)), size: 60 }],
    series: [{ label: "run", value: (_, v) => (v == null ? "–" : `#${v}`) },
             { label: "duration", stroke: COLORS[0], width: 2, points: { show: true }, value: (_, v) => duration(v) }],
  }));
  const described = points.filter((p) => p.seconds != null);
  const summary = described.length ? `${name}: ${described.length} runs, last ${duration(described[described.length - 1].seconds)}` : `${name}: no finished runs`;
  return html`<div class="chart" data-trend=${name} role="img" aria-label=${summary}><div class="label">${name}</div><div ref=${host}></div></div>`;
}

/** The same metric of several runs: `lines` [{label, points: [[x, value, time]]}], a line each
 *  in COLORS order. Their points need not share x (a downsampled series keeps other points
 *  than a short one), so each line spans the gaps where it has no point. */
export function OverlayChart({ name, lines }) {
  const host = useRef(null);
  const xs = [...new Set(lines.flatMap((l) => l.points.map((p) => p[0])))].sort((a, b) => a - b);
  const data = [xs, ...lines.map((l) => {
    const at = new Map(l.points.map((p) => [p[0], p[1]]));
    return xs.map((x) => at.get(x) ?? null);
  })];
  usePlot(host, lines.map((l) => l.label).join(","), data, () => ({
    scales: { x: { time: false } },
    axes: [{ ...axis(), label: "step" }, axis()],
    series: [{ label: "step" }, ...lines.map((l, i) => ({ label: l.label, stroke: COLORS[i % COLORS.length], width: 2,
      spanGaps: true, points: { show: l.points.length < 30 } }))],
  }));
  const summary = `${name}: ${lines.map((l) => `${l.label} ends at ${l.points.length ? number(l.points[l.points.length - 1][1]) : "–"}`).join(", ")}`;
  return html`<div class="chart" data-overlay=${name} data-lines=${lines.length} role="img" aria-label=${summary}>
    <div class="label">${name}</div><div ref=${host}></div></div>`;
}
