// Run history at a glance (Airflow's grid view): columns are the workflow's newest runs (the
// oldest on the left), rows its tasks, a cell per task in each run coloured and labelled by
// its status; a bar per run shows its duration; trends chart the durations of the workflow's
// runs and of the task picked. Refreshed (at most once a second) by the workflow's events.
import { useEffect, useState } from "preact/hooks";
import { api } from "./api.js";
import { subscribe } from "./live.js";
import { html, Link, ErrorBox, Spinner, duration, useLoad, stamp } from "./ui.js";
import { TrendChart } from "./chart.js";

const COLUMNS = 25;
const ROWS = 60; // tasks shown before "Show all": a 500-task workflow would be 12,500 cells
// A sign per status besides the colour, so the grid reads without colours too.
const SIGN = { succeeded: "✓", failed: "✗", upstream_failed: "⊘", running: "▶", queued: "…", pending: "·",
               up_for_retry: "↻", skipped: "–", cancelled: "■" };
const words = (status) => status.replaceAll("_", " ");
const enc = encodeURIComponent;

export function RunGrid({ w }) {
  const grid = useLoad(() => api(`/api/v1/workflows/${w.id}/grid?limit=${COLUMNS}`), [w.id, w.current_version]);
  const [task, setTask] = useState(null);
  const [all, setAll] = useState(false);
  useEffect(() => {
    let t = null;
    const off = subscribe(`workflow:${w.id}`, (e) => {
      const changes = e.type.startsWith("run.") || (e.type.startsWith("task.") && e.type !== "task.progress");
      if (changes && t === null) t = setTimeout(() => { t = null; grid.reload(); }, 1000);
    });
    return () => { off(); clearTimeout(t); };
  }, [w.id, grid.reload]);

  if (grid.error && !grid.data) return html`<${ErrorBox} error=${grid.error} onRetry=${grid.reload} />`;
  if (!grid.data) return html`<${Spinner} />`;
  const { tasks, runs } = grid.data;
  if (!runs.length) return html`<p class="muted">No runs yet: each run becomes a column here.</p>`;
  const picked = tasks.includes(task) ? task : null;
  const rows = all ? tasks : tasks.slice(0, ROWS);
  return html`<div>
    <p class="muted grid-hint">The last ${runs.length} runs, oldest on the left. A cell opens the task in its run; a task's name charts its durations.</p>
    <div class="run-grid-wrap">
      <table class="run-grid" data-testid="grid">
        <caption class="visually-hidden">Task statuses in the last ${runs.length} runs, oldest first</caption>
        <thead><tr><th scope="col">Task</th>${runs.map((r) => html`<${RunHead} key=${r.id} run=${r} longest=${longest(runs)} />`)}</tr></thead>
        <tbody>${rows.map((k) => html`<tr data-task=${k}>
          <th scope="row"><button class="link" aria-pressed=${picked === k ? "true" : "false"} onClick=${() => setTask(picked === k ? null : k)}>${k}</button></th>
          ${runs.map((r) => html`<${Cell} key=${r.id} run=${r} task=${k} />`)}
        </tr>`)}</tbody>
      </table>
      ${rows.length < tasks.length ? html`<button class="link" onClick=${() => setAll(true)}>Show all ${tasks.length} tasks</button>` : null}
    </div>
    <div class="trends">
      <${TrendChart} name="Run duration" points=${runs.map((r) => ({ run: r.id, seconds: r.duration }))} />
      ${picked ? html`<${TrendChart} key=${picked} name=${`${picked} duration`} points=${runs.map((r) => ({ run: r.id, seconds: r.cells[picked]?.duration ?? null }))} />`
        : html`<p class="muted">Pick a task (its name in the grid) to chart its duration over these runs.</p>`}
    </div>
  </div>`;
}

const longest = (runs) => Math.max(0.001, ...runs.map((r) => r.duration || 0));

function RunHead({ run, longest }) {
  const tall = run.duration ? Math.max(8, Math.round((run.duration / longest) * 100)) : 0;
  const label = `Run #${run.id}, ${words(run.status)}, ${run.duration == null ? "not started" : duration(run.duration)}, created ${stamp(run.created_at)}`;
  return html`<th scope="col" data-run=${run.id}>
    <${Link} href=${`/runs/${run.id}`} aria-label=${label} title=${label}>
      <span class="run-bar"><span class=${`fill s-${run.status}`} style=${`height:${tall}%`}></span></span>
      <span class="run-no">${run.id}</span>
    </${Link}>
  </th>`;
}

function Cell({ run, task }) {
  const cell = run.cells[task];
  if (!cell) return html`<td class="cell-none"><span class="visually-hidden">${task} not in run #${run.id}</span></td>`;
  const retries = cell.attempts > 1 ? `, ${cell.attempts} attempts` : "";
  const label = `${task} in run #${run.id}: ${words(cell.status)}${retries}${cell.duration != null ? `, ${duration(cell.duration)}` : ""}`;
  return html`<td><${Link} class=${`cell s-${cell.status}`} data-status=${cell.status} href=${`/runs/${run.id}?task=${enc(task)}`}
      aria-label=${label} title=${label}>${SIGN[cell.status] || "?"}${cell.attempts > 1 ? html`<sup>${cell.attempts}</sup>` : null}</${Link}></td>`;
}
