// Progress a task reports with plait.progress(fraction, message): a bar with the message and
// the time left, kept current by `task.progress` events.
import { html, duration } from "./ui.js";

/** Apply a `task.progress` event to the run snapshot (returns a new run object). */
export function applyProgress(run, e) {
  const { task_key: key, attempt: number, progress, message, eta_seconds } = e.data;
  const tasks = run.tasks.map((t) => t.key !== key ? t : {
    ...t,
    attempts: t.attempts.map((a) => a.attempt !== number ? a : { ...a, progress, progress_message: message, eta_seconds }),
  });
  return { ...run, tasks };
}

/** The latest attempt's progress while it runs (nothing otherwise). */
export function Progress({ task }) {
  const a = task.attempts[task.attempts.length - 1];
  if (!a || a.status !== "running" || a.progress == null) return null;
  const pct = Math.round(a.progress * 100);
  const left = a.eta_seconds != null ? `about ${duration(a.eta_seconds)} left` : null;
  const said = [a.progress_message, left].filter(Boolean).join(" · ");
  return html`<div class="progress" data-testid="progress" data-task=${task.key}>
    <div class="progress-track" role="progressbar" aria-label=${`Progress of ${task.key}`} aria-valuemin="0" aria-valuemax="100"
      aria-valuenow=${pct} aria-valuetext=${`${pct}%${said ? `, ${said}` : ""}`}><span style=${`width:${pct}%`}></span></div>
    <small><b>${pct}%</b>${a.progress_message ? html` · <span data-testid="progress-message">${a.progress_message}</span>` : null}${left ? html` · <span data-testid="progress-eta">${left}</span>` : null}</small>
  </div>`;
}

/** Every running task that reports progress, to pick from (only while there is one). */
export function RunProgress({ run, onSelect }) {
  const going = run.tasks.filter((t) => t.status === "running" && t.attempts[t.attempts.length - 1]?.progress != null);
  if (!going.length) return null;
  return html`<div class="card" data-testid="run-progress"><h2>Progress</h2>
    ${going.map((t) => html`<div class="progress-row"><button class="link" onClick=${() => onSelect(t.key)}><code>${t.key}</code></button><${Progress} task=${t} /></div>`)}
  </div>`;
}
