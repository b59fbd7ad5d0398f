// Runs side by side (/compare?ids=1,2): a card per run, then params, metrics (a table and a
// chart per key with a line per run), task outputs and task durations. Rows whose values
// differ between the runs are marked in words and colour; each run keeps one colour throughout.
import { api, q } from "../api.js";
import { OverlayChart, COLORS } from "../chart.js";
import { html, Link, Time, Status, duration, useLoad, ErrorBox, Empty, Spinner, number, title } from "../ui.js";

const MIN = 2, MAX = 10;

function pickedIds() {
  const raw = new URLSearchParams(location.search).get("ids") || "";
  return [...new Set(raw.split(",").map((s) => s.trim()).filter((s) => /^\d+$/.test(s)))];
}

export function ComparePage() {
  const ids = pickedIds();
  title(`Compare ${ids.map((id) => `#${id}`).join(", ")}`);
  const enough = ids.length >= MIN && ids.length <= MAX;
  const load = useLoad(() => (enough ? api(`/api/v1/runs/compare${q({ ids: ids.join(",") })}`) : Promise.resolve(null)), [ids.join(",")]);
  const head = html`<div class="page-head"><h1>Compare runs</h1></div>`;
  if (!enough) {
    return html`<div class="page">${head}<${Empty} title=${`Pick ${MIN} to ${MAX} runs to compare`}>
      <p>Tick them in the <${Link} href="/runs">runs</${Link}> list, then press <b>Compare</b>.</p></${Empty}></div>`;
  }
  const c = load.data;
  return html`<div class="page">${head}
    <${ErrorBox} error=${load.error} onRetry=${load.reload} />
    ${c === null ? (load.loading ? html`<${Spinner} />` : null) : html`
      <div class="compare-cards" data-testid="compare-runs">${c.runs.map((r, i) => html`<${RunCard} r=${r} color=${COLORS[i % COLORS.length]} />`)}</div>
      <${Params} c=${c} />
      <${Metrics} c=${c} />
      <${Outputs} c=${c} />
      <${Tasks} c=${c} />`}
  </div>`;
}

function RunCard({ r, color }) {
  return html`<div class="card compare-card" data-run=${r.id} style=${`border-top: 4px solid ${color}`}>
    <h2><${Link} href=${`/runs/${r.id}`}>#${r.id}</${Link}> <${Status} status=${r.status} /></h2>
    <dl class="kv">
      <dt>Workflow</dt><dd><${Link} href=${`/workflows/${encodeURIComponent(r.workflow)}`}>${r.workflow}</${Link}> <small>v${r.workflow_version}</small></dd>
      <dt>Trigger</dt><dd>${r.trigger}${r.triggered_by ? html` <small>by ${r.triggered_by}</small>` : null}</dd>
      <dt>Created</dt><dd><${Time} iso=${r.created_at} /></dd>
      <dt>Duration</dt><dd>${duration(r.duration)}</dd>
    </dl>
  </div>`;
}

const show = (v) => (v === undefined ? html`<small>–</small>` : typeof v === "number" ? number(v) : typeof v === "string" ? v : JSON.stringify(v));

/** A column per run, headed by the run (its colour beside it); `same`: a last column saying
 *  whether the row differs. */
function RunHeads({ runs, first, note, same }) {
  return html`<thead><tr><th scope="col">${first}</th>${runs.map((r, i) => html`<th scope="col">
    <span class="swatch" style=${`background:${COLORS[i % COLORS.length]}`}></span>#${r.id}${note ? html` <small>${note}</small>` : null}</th>`)}
    ${same ? html`<th scope="col">Same?</th>` : null}</tr></thead>`;
}

function Differs({ differs }) {
  return differs ? html`<td class="differs-mark"><span aria-hidden="true">≠ </span>differs</td>` : html`<td><small>same</small></td>`;
}

/** Rows of {label, values by run id, differs}: a table with the differing rows marked. */
function SideBySide({ runs, rows, first, testid }) {
  return html`<div class="table-wrap" role="region" aria-label=${first} tabindex="0"><table class="list compare" data-testid=${testid}>
    <${RunHeads} runs=${runs} first=${first} same />
    <tbody>${rows.map((row) => html`<tr class=${row.differs ? "differs" : ""} data-row=${row.label} data-differs=${String(row.differs)}>
      <th scope="row"><code>${row.label}</code></th>${runs.map((r) => html`<td>${show(row.values[r.id])}</td>`)}<${Differs} differs=${row.differs} /></tr>`)}</tbody>
  </table></div>`;
}

function Params({ c }) {
  const rows = c.params.map((p) => ({ label: p.name, values: p.values, differs: p.differs }));
  const differing = rows.filter((r) => r.differs).length;
  return html`<div class="card"><h2>Parameters <small>${rows.length ? `${differing} of ${rows.length} differ` : ""}</small></h2>
    ${rows.length ? html`<${SideBySide} runs=${c.runs} rows=${rows} first="Parameter" testid="compare-params" />` : html`<p class="muted">None of these runs has parameters.</p>`}
  </div>`;
}

function Metrics({ c }) {
  if (!c.metrics.length) return html`<div class="card"><h2>Metrics</h2><p class="muted">None of these runs logged a metric.</p></div>`;
  const charted = c.metrics.filter((m) => Object.values(m.runs).some((s) => s.series.length > 1));
  return html`<div class="card"><h2>Metrics</h2>
    <div class="table-wrap" role="region" aria-label="Metrics" tabindex="0"><table class="list compare" data-testid="compare-metrics">
      <${RunHeads} runs=${c.runs} first="Metric" note="last (min – max)" />
      <tbody>${c.metrics.map((m) => html`<tr data-row=${m.key}><th scope="row"><code>${m.key}</code></th>${c.runs.map((r) => {
        const s = m.runs[r.id];
        return html`<td data-run=${r.id}>${s ? html`<b>${number(s.last)}</b> <small>(${number(s.min)} – ${number(s.max)}, ${s.count} ${s.count === 1 ? "value" : "values"})</small>` : html`<small>–</small>`}</td>`;
      })}</tr>`)}</tbody>
    </table></div>
    ${charted.length ? html`<div class="compare-charts" data-testid="compare-charts">${charted.map((m) => html`<${OverlayChart} key=${m.key} name=${m.key}
      lines=${c.runs.map((r) => ({ label: `#${r.id}`, points: m.runs[r.id]?.series || [] }))} />`)}</div>` : null}
    ${c.metrics.some((m) => Object.values(m.runs).some((s) => s.downsampled)) ? html`<p class="muted">Long series are drawn from at most 500 of their points: the first, the last, and the low and high of each stretch.</p>` : null}
  </div>`;
}

function Outputs({ c }) {
  if (!c.outputs.length) return null;
  const rows = c.outputs.map((o) => ({ label: `${o.task}.${o.key}`, values: o.values, differs: o.differs }));
  return html`<div class="card"><h2>Outputs</h2><${SideBySide} runs=${c.runs} rows=${rows} first="Task output" testid="compare-outputs" /></div>`;
}

function Tasks({ c }) {
  if (!c.tasks.length) return null;
  return html`<div class="card"><h2>Tasks</h2>
    <div class="table-wrap" role="region" aria-label="Task durations" tabindex="0"><table class="list compare" data-testid="compare-tasks">
      <${RunHeads} runs=${c.runs} first="Task" />
      <tbody>${c.tasks.map((t) => html`<tr data-row=${t.key}><th scope="row"><code>${t.key}</code></th>${c.runs.map((r) => {
        const cell = t.runs[r.id];
        return html`<td>${cell ? html`<${Status} status=${cell.status} /> ${duration(cell.duration)}${cell.attempts > 1 ? html` <small>${cell.attempts} tries</small>` : null}` : html`<small>–</small>`}</td>`;
      })}</tr>`)}</tbody>
    </table></div>
  </div>`;
}
