// The overview dashboard: the whole instance's runs, success rate and durations, what is
// queued and running now, the workflows that fail most, and runs per day.
import { useState } from "preact/hooks";
import { api } from "../api.js";
import { html, Link, useLoad, ErrorBox, Spinner, Empty, title } from "../ui.js";
import { DaysSelect, RunFigures, PerDay, ByStatus, percent } from "../stats.js";

const enc = encodeURIComponent;

export function OverviewPage() {
  title("Overview");
  // 7 days: the instance's figures read every run of the window (docs/stats.md, cost).
  const [days, setDays] = useState(7);
  const stats = useLoad(() => api(`/api/v1/stats?days=${days}`), [days]);
  const s = stats.data;
  return html`<div class="page" data-testid="overview" data-days=${s?.days}>
    <div class="page-head"><h1>Overview</h1><${DaysSelect} id="overview-days" days=${days} onChange=${setDays} /></div>
    <${ErrorBox} error=${stats.error} onRetry=${stats.reload} />
    ${s ? html`<div class="grid">
      <div>
        <div class="card"><h2>Runs</h2><${RunFigures} runs=${s.runs} /><${ByStatus} runs=${s.runs} /><${PerDay} days=${s.per_day} /></div>
        <div class="card"><h2>Workflows that fail most</h2><${Failing} items=${s.failing_workflows} /></div>
      </div>
      <div><div class="card"><h2>Now</h2><${Active} active=${s.active} /></div></div>
    </div>` : html`<${Spinner} />`}
  </div>`;
}

function Active({ active }) {
  const row = (label, key, href) => html`<dt>${label}</dt><dd><${Link} href=${href}><data value=${active[key]} data-testid=${`active-${key}`}>${active[key]}</data></${Link}></dd>`;
  return html`<dl class="kv" data-testid="active">
    ${row("Queued runs", "queued_runs", "/runs?status=queued")}
    ${row("Running runs", "running_runs", "/runs?status=running")}
    <dt>Queued attempts</dt><dd><data value=${active.queued_attempts} data-testid="active-queued_attempts">${active.queued_attempts}</data></dd>
    <dt>Running attempts</dt><dd><data value=${active.running_attempts} data-testid="active-running_attempts">${active.running_attempts}</data></dd>
  </dl>`;
}

function Failing({ items }) {
  if (!items.length) return html`<${Empty} title="No failed runs in this window" />`;
  return html`<div class="table-wrap"><table class="list stats" data-testid="failing-workflows">
    <thead><tr><th scope="col">Workflow</th><th scope="col">Failed runs</th><th scope="col">Runs</th><th scope="col">Success rate</th></tr></thead>
    <tbody>${items.map((f) => html`<tr data-workflow=${f.name}>
      <th scope="row"><${Link} href=${`/workflows/${enc(f.name)}?tab=stats`}>${f.name}</${Link}></th>
      <td><data value=${f.failed}>${f.failed}</data></td><td><data value=${f.runs}>${f.runs}</data></td>
      <td><data value=${f.success_rate ?? ""}>${percent(f.success_rate)}</data></td>
    </tr>`)}</tbody></table></div>`;
}
