// Every attempt of a task (a retry is a new attempt): its number, status, how it exited (a
// signal by its name: SIGTERM, not -15), its error and duration, and a button to show its
// own log.
import { html, Status, duration } from "./ui.js";

function exit(a) {
  if (a.exit_signal) return html`<span title=${`exit code ${a.exit_code}`}>${a.exit_signal}</span>`;
  return a.exit_code != null ? String(a.exit_code) : "–";
}

// An attempt that failed and was tried again stays `up_for_retry` in the database; once its
// retry exists, it reads as what it was: a failed try.
function AttemptStatus({ a, last }) {
  if (a.status !== "up_for_retry" || a.attempt === last) return html`<${Status} status=${a.status} />`;
  return html`<${Status} status="failed" /> <span class="muted">retried</span>`;
}

export function Attempts({ task, shown, onShow }) {
  const last = Math.max(...task.attempts.map((a) => a.attempt));
  return html`<table class="list attempts" data-testid="attempts">
    <caption class="visually-hidden">Attempts of ${task.key}</caption>
    <thead><tr><th scope="col">Attempt</th><th scope="col">Status</th><th scope="col">Exit</th><th scope="col">Duration</th><th scope="col"><span class="visually-hidden">Log</span></th></tr></thead>
    <tbody>${task.attempts.map((a) => html`
      <tr data-attempt=${a.attempt} class=${shown === a.attempt ? "shown" : ""}>
        <th scope="row">${a.attempt}</th><td><${AttemptStatus} a=${a} last=${last} /></td><td data-testid="attempt-exit">${exit(a)}</td><td>${duration(a.duration)}</td>
        <td><button class="link nowrap" aria-label=${`Log of attempt ${a.attempt}`} aria-pressed=${shown === a.attempt ? "true" : "false"} onClick=${() => onShow(a.attempt)}>Log</button></td>
      </tr>
      ${a.error ? html`<tr class="attempt-error" data-attempt-error=${a.attempt}><td colspan="5"><span class="field-error">${a.error}</span></td></tr>` : null}`)}
    </tbody>
  </table>`;
}
