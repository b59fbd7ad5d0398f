// The runs list's table of final metrics: a row per run shown that logged any, a column per
// metric key, each cell the last value the run logged for it.
import { api } from "./api.js";
import { html, Link, ErrorBox, useLoad, number } from "./ui.js";

export function FinalMetrics({ runs }) {
  const ids = runs.map((r) => r.id);
  // Asked again when the runs shown change or one of them changes status (a running run logs more).
  const load = useLoad(() => (ids.length ? api(`/api/v1/runs/final-metrics?ids=${ids.join(",")}`) : Promise.resolve({ runs: {} })),
                       [runs.map((r) => `${r.id}:${r.status}`).join(",")]);
  const byRun = load.data?.runs || {};
  const keys = [...new Set(Object.values(byRun).flatMap((m) => Object.keys(m)))].sort();
  if (load.error) return html`<${ErrorBox} error=${load.error} onRetry=${load.reload} />`;
  if (!keys.length) return null;
  const rows = runs.filter((r) => Object.keys(byRun[r.id] || {}).length);
  return html`<div class="card"><h2>Final metrics</h2>
    <div class="run-grid-wrap" role="region" aria-label="Final metrics of the runs shown" tabindex="0">
      <table class="list" data-testid="final-metrics">
        <thead><tr><th scope="col">Run</th><th scope="col">Workflow</th>${keys.map((k) => html`<th scope="col">${k}</th>`)}</tr></thead>
        <tbody>${rows.map((r) => html`<tr data-metrics-run=${r.id}><th scope="row"><${Link} href=${`/runs/${r.id}`}>#${r.id}</${Link}></th><td>${r.workflow}</td>
          ${keys.map((k) => html`<td data-key=${k}>${number(byRun[r.id][k])}</td>`)}</tr>`)}</tbody>
      </table>
    </div>
  </div>`;
}
