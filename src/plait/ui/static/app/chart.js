// Metric charts: one uPlot chart per metric key, value over step, one line per task.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { html } from "./ui.js";

const COLORS = ["#4f46e5", "#16a34a", "#dc2626", "#d97706", "#0891b2", "#9333ea", "#db2777", "#65a30d"];

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

export function MetricChart({ name, points }) {
  const host = useRef(null);
  const plot = useRef(null);
  const shape = useRef("");
  useEffect(() => {
    const { tasks, data } = series(points);
    const css = getComputedStyle(document.documentElement);
    const axis = { stroke: css.getPropertyValue("--muted"), grid: { stroke: css.getPropertyValue("--border"), width: 1 }, ticks: { stroke: css.getPropertyValue("--border") } };
    const key = tasks.join(",") + document.documentElement.dataset.theme;
    if (plot.current && shape.current === key) { plot.current.setData(data); return; }
    plot.current?.destroy();
    shape.current = key;
    const single = data[0].length === 1;
    plot.current = new uPlot({
      width: Math.max(280, host.current.clientWidth), height: 200,
      scales: { x: { time: false } },
      axes: [{ ...axis, label: "step" }, axis],
      series: [{ label: "step" }, ...tasks.map((t, i) => ({ label: t, stroke: COLORS[i % COLORS.length], width: 2,
        points: { show: single || data[0].length < 30 } }))],
    }, data, host.current);
  }, [points]);
  useEffect(() => () => plot.current?.destroy(), []);
  return html`<div class="chart" data-metric=${name}><div class="label">${name}</div><div ref=${host}></div></div>`;
}
