// The workers page: remote workers (plait worker) heard from lately, what queues they take,
// what they run now. Refreshed every few seconds: heartbeats are not events.
import { useEffect } from "preact/hooks";
import { api } from "../api.js";
import { html, Time, useLoad, ErrorBox, Empty, Spinner, title } from "../ui.js";

const REFRESH_MS = 5000;

export function WorkersPage() {
  title("Workers");
  const list = useLoad(() => api("/api/v1/workers"), []);
  useEffect(() => {
    const t = setInterval(() => list.reload(), REFRESH_MS);
    return () => clearInterval(t);
  }, [list.reload]);
  const items = list.data || [];
  return html`<div class="page">
    <div class="page-head"><h1>Workers</h1></div>
    <${ErrorBox} error=${list.error} onRetry=${list.reload} />
    ${list.data === null && list.loading ? html`<${Spinner} />`
      : items.length === 0 ? html`<${Empty} title="No worker is connected">
          <p>Tasks run in the server unless it uses the Celery executor. Start a worker with
          <code>plait worker --queues default</code> and a token from <code>plait tokens create --worker NAME</code>.</p>
        </${Empty}>`
      : html`<div class="table-wrap"><table class="list" data-testid="workers">
          <thead><tr><th>Worker</th><th>Host</th><th>Queues</th><th>Running</th><th>Last heartbeat</th><th>Started</th></tr></thead>
          <tbody>${items.map((w) => html`<${Row} w=${w} />`)}</tbody>
        </table></div>`}
  </div>`;
}

function Row({ w }) {
  return html`<tr data-worker=${w.name}>
    <td><code>${w.name}</code></td>
    <td>${w.hostname}</td>
    <td>${w.queues.map((q) => html`<span class="chip">${q}</span> `)}</td>
    <td>${w.running.length} / ${w.concurrency}
      ${w.running.length ? html`<div class="muted">attempts ${w.running.join(", ")}</div>` : null}</td>
    <td><${Time} iso=${w.last_seen} /></td>
    <td><${Time} iso=${w.started_at} /></td>
  </tr>`;
}
