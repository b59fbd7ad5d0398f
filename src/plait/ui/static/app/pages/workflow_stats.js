// A workflow's Stats tab: runs, success rate, duration percentiles, runs per day, per task
// figures and failures by error over the last 7, 30 or 90 days.
import { useState } from "preact/hooks";
import { api } from "../api.js";
import { html, useLoad, ErrorBox, Spinner } from "../ui.js";
import { DaysSelect, RunFigures, PerDay, TaskTable, FailureTable, ByStatus } from "../stats.js";

export function WorkflowStats({ w }) {
  const [days, setDays] = useState(30);
  const stats = useLoad(() => api(`/api/v1/workflows/${w.id}/stats?days=${days}`), [w.id, days]);
  const s = stats.data;
  return html`<div data-testid="workflow-stats" data-days=${s?.days}>
    <div class="card"><div class="card-head"><h2>Runs</h2><${DaysSelect} id="stats-days" days=${days} onChange=${setDays} /></div>
      <${ErrorBox} error=${stats.error} onRetry=${stats.reload} />
      ${s ? html`<${RunFigures} runs=${s.runs} /><${ByStatus} runs=${s.runs} /><${PerDay} days=${s.per_day} />` : html`<${Spinner} />`}
    </div>
    ${s ? html`<div class="card"><h2>Tasks</h2><${TaskTable} tasks=${s.tasks} /></div>
      <div class="card"><h2>Failures by error</h2><${FailureTable} failures=${s.failures} /></div>` : null}
  </div>`;
}
