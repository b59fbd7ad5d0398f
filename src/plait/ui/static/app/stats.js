// Statistics: the figures of GET /workflows/{ref}/stats and GET /stats, shown on a
// workflow's Stats tab and on the Overview page. Every number is a <data> element whose
// value is the API's own figure, so what is shown can be checked against the API.
import { html, Link, duration, Status } from "./ui.js";

export const WINDOWS = [7, 30, 90];
const STATUSES = ["succeeded", "failed", "cancelled", "running", "queued"];

export const percent = (rate) => (rate == null ? "–" : `${(rate * 100).toFixed(1)} %`);
const Num = ({ value, text, testid }) => html`<data value=${value ?? ""} data-testid=${testid}>${text ?? value ?? "–"}</data>`;

/** A labelled select of the windows offered, in days. */
export function DaysSelect({ id, days, onChange }) {
  return html`<label class="days-select" for=${id}>Last
    <select id=${id} value=${days} onChange=${(e) => onChange(Number(e.target.value))}>
      ${WINDOWS.map((d) => html`<option value=${d}>${d} days</option>`)}
    </select></label>`;
}

/** Runs in the window, success rate and the duration percentiles of finished runs. */
export function RunFigures({ runs }) {
  return html`<dl class="figures" data-testid="run-figures">
    <div><dt>Runs</dt><dd><${Num} value=${runs.total} testid="stat-total" /></dd></div>
    <div><dt>Success rate</dt><dd><${Num} value=${runs.success_rate} text=${percent(runs.success_rate)} testid="stat-success-rate" />
      <small>${runs.by_status.succeeded} of ${runs.finished} finished</small></dd></div>
    <div><dt>Median duration</dt><dd><${Num} value=${runs.duration.p50} text=${duration(runs.duration.p50)} testid="stat-p50" /></dd></div>
    <div><dt>95th percentile</dt><dd><${Num} value=${runs.duration.p95} text=${duration(runs.duration.p95)} testid="stat-p95" /></dd></div>
  </dl>`;
}

const dayLabel = (d) => `${d.date}: ${d.total} run${d.total === 1 ? "" : "s"}${d.total
  ? ` (${STATUSES.filter((s) => d.by_status[s]).map((s) => `${d.by_status[s]} ${s}`).join(", ")})` : ""}`;

/** Runs per day as stacked bars (each with its text), and the same figures as a table. */
export function PerDay({ days }) {
  const most = Math.max(1, ...days.map((d) => d.total));
  return html`<figure class="per-day" data-testid="per-day">
    <div class="day-bars">${days.map((d) => html`<div class="day" role="img" aria-label=${dayLabel(d)} title=${dayLabel(d)} data-date=${d.date}>
      ${STATUSES.filter((s) => d.by_status[s]).map((s) => html`<span class=${`seg s-${s}`} style=${`height:${(100 * d.by_status[s]) / most}%`}></span>`)}
    </div>`)}</div>
    <figcaption class="muted">Runs created per day (UTC), ${days[0]?.date} to ${days[days.length - 1]?.date}.
      <span class="legend">${STATUSES.map((s) => html`<span><i class=${`seg s-${s}`}></i>${s}</span>`)}</span></figcaption>
    <details><summary>Runs per day as a table</summary>
      <div class="table-wrap"><table class="list stats"><thead><tr><th scope="col">Day</th><th scope="col">Runs</th>${STATUSES.map((s) => html`<th scope="col">${s}</th>`)}</tr></thead>
        <tbody>${days.map((d) => html`<tr><th scope="row">${d.date}</th><td>${d.total}</td>${STATUSES.map((s) => html`<td>${d.by_status[s]}</td>`)}</tr>`)}</tbody></table></div>
    </details>
  </figure>`;
}

/** Per task: attempts, success rate, retries and attempt duration percentiles. */
export function TaskTable({ tasks }) {
  if (!tasks.length) return html`<p class="muted">No task attempts in this window.</p>`;
  return html`<div class="table-wrap"><table class="list stats" data-testid="task-stats">
    <thead><tr><th scope="col">Task</th><th scope="col">Attempts</th><th scope="col">Success rate</th><th scope="col">Retries</th><th scope="col">Median</th><th scope="col">95th percentile</th></tr></thead>
    <tbody>${tasks.map((t) => html`<tr data-task=${t.task_key}>
      <th scope="row"><code>${t.task_key}</code></th>
      <td><${Num} value=${t.attempts} /></td>
      <td><${Num} value=${t.success_rate} text=${percent(t.success_rate)} /></td>
      <td><${Num} value=${t.retries} /></td>
      <td><${Num} value=${t.duration.p50} text=${duration(t.duration.p50)} /></td>
      <td><${Num} value=${t.duration.p95} text=${duration(t.duration.p95)} /></td>
    </tr>`)}</tbody></table></div>`;
}

/** The most frequent errors of failed attempts, each linking to the newest run with it. */
export function FailureTable({ failures }) {
  if (!failures.length) return html`<p class="muted">No failed attempts in this window.</p>`;
  return html`<div class="table-wrap"><table class="list stats" data-testid="failures">
    <thead><tr><th scope="col">Error (first line)</th><th scope="col">Failed attempts</th><th scope="col">Latest run</th></tr></thead>
    <tbody>${failures.map((f) => html`<tr>
      <td class="error-text">${f.error ? html`<code>${f.error}</code>` : html`<span class="muted">(no message)</span>`}</td>
      <td><${Num} value=${f.count} /></td>
      <td><${Link} href=${`/runs/${f.latest_run_id}`}>#${f.latest_run_id}</${Link}></td>
    </tr>`)}</tbody></table></div>`;
}

/** Runs by status as chips. */
export function ByStatus({ runs }) {
  return html`<p class="by-status" data-testid="by-status">${STATUSES.map((s) => html`<span data-status=${s}><${Status} status=${s} /> <${Num} value=${runs.by_status[s]} /></span> `)}</p>`;
}
