// One sweep: its runs by status, a table of their swept params and final metrics sortable by
// any column (click a header), the best run marked in words, a scatter chart of a param
// against a metric, live as its runs go on.
import { useEffect, useState } from "preact/hooks";
import { api, q } from "../api.js";
import { subscribe } from "../live.js";
import { html, Link, Status, useLoad, ErrorBox, Spinner, canEdit, title, toast, duration, number } from "../ui.js";

const COUNTS = ["queued", "running", "succeeded", "failed", "cancelled"];
const enc = encodeURIComponent;

/** Reload (at most twice a second) on the workflow's run, task and sweep events. */
function useLive(workflowId, reload) {
  useEffect(() => {
    if (workflowId == null) return;
    let t = null;
    const off = subscribe(`workflow:${workflowId}`, (e) => {
      if (/^(run|task|sweep)\./.test(e.type) && t === null) t = setTimeout(() => { t = null; reload(); }, 500);
    });
    return () => { off(); clearTimeout(t); };
  }, [workflowId, reload]);
}

export function SweepPage({ id }) {
  const [rank, setRank] = useState({ metric: null, direction: null });
  const s = useLoad(() => api(`/api/v1/sweeps/${id}${q({ metric: rank.metric || undefined, direction: rank.direction || undefined })}`), [id, rank.metric, rank.direction]);
  const d = s.data;
  title(`Sweep #${id}`);
  useLive(d?.workflow_id, s.reload);
  if (s.error && !d) return html`<div class="page"><${ErrorBox} error=${s.error} onRetry=${s.reload} /></div>`;
  if (!d) return html`<${Spinner} />`;
  const cancel = async () => {
    try { s.setData(await api(`/api/v1/sweeps/${id}/cancel`, { method: "POST" })); toast("Cancelling the sweep's unfinished runs"); }
    catch (err) { toast(err.message, "bad"); }
  };
  return html`<div class="page" data-testid="sweep" data-status=${d.status}>
    <div class="crumbs"><${Link} href=${`/workflows/${enc(d.workflow)}`}>${d.workflow}</${Link}> / sweeps /</div>
    <div class="page-head"><h1>Sweep #${d.id}</h1><${Status} status=${d.status} />
      <small>${d.kind === "grid" ? "grid" : `random, seed ${d.seed}`} over ${d.swept.join(", ")} · at most ${d.max_parallel} at once</small>
      <div class="actions">${canEdit() && d.status === "running" ? html`<button class="danger" onClick=${cancel}>Cancel sweep</button>` : null}</div>
    </div>
    <dl class="kv counts" data-testid="sweep-counts">${COUNTS.map((k) => html`<dt>${k}</dt><dd data-count=${k}>${d.counts[k]}</dd>`)}</dl>
    <div class="card"><h2>Best run</h2>
      <div class="row">
        <label>Metric <select aria-label="Metric that ranks the runs" value=${d.ranked_by || ""} onChange=${(e) => setRank((r) => ({ ...r, metric: e.target.value || null }))}>
          ${d.ranked_by ? null : html`<option value="">choose…</option>`}
          ${[...new Set([...(d.ranked_by ? [d.ranked_by] : []), ...d.metrics])].map((m) => html`<option value=${m}>${m}</option>`)}</select></label>
        <label>Better is <select aria-label="Which way is better" value=${d.ranked_direction} onChange=${(e) => setRank((r) => ({ ...r, direction: e.target.value }))}>
          <option value="max">higher</option><option value="min">lower</option></select></label>
      </div>
      <p data-testid="sweep-best">${d.best ? html`Best: <${Link} href=${`/runs/${d.best.run_id}`}>run #${d.best.run_id}</${Link}>, ${d.ranked_by} ${number(d.best.metrics[d.ranked_by])} with${" "}
        ${Object.entries(d.best.swept).map(([k, v]) => html`<code>${k}=${JSON.stringify(v)}</code> `)}`
        : d.ranked_by ? `No run has logged ${d.ranked_by} yet.` : "Choose the metric that ranks the runs."}</p>
    </div>
    <div class="card"><h2>Runs</h2><${SweepTable} d=${d} /></div>
    ${d.metrics.length ? html`<div class="card"><h2>Param against metric</h2><${Scatter} d=${d} /></div>` : null}
  </div>`;
}

/** Columns: [key, label, value of a row]; a click on a header sorts by it (again: the other way). */
function columns(d) {
  return [["run", "Run", (r) => r.run_id], ...d.swept.map((p) => [`p:${p}`, p, (r) => r.swept[p]]),
    ["status", "Status", (r) => r.status], ["duration", "Duration", (r) => r.duration],
    ...d.metrics.map((m) => [`m:${m}`, m, (r) => r.metrics[m]])];
}

function compare(a, b) {
  if (a == null || b == null) return a == null ? (b == null ? 0 : 1) : -1; // blanks last
  return typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b));
}

function SweepTable({ d }) {
  const [sort, setSort] = useState({ key: "run", asc: true });
  const cols = columns(d);
  const by = cols.find(([k]) => k === sort.key) || cols[0];
  const rows = [...d.rows].sort((a, b) => {
    const va = by[2](a), vb = by[2](b);
    if (va == null || vb == null) return compare(va, vb);
    return sort.asc ? compare(va, vb) : compare(vb, va);
  });
  const best = d.best?.run_id;
  const click = (key) => setSort((s) => ({ key, asc: s.key === key ? !s.asc : !key.startsWith("m:") }));
  return html`<div class="run-grid-wrap" role="region" aria-label="The sweep's runs" tabindex="0">
    <table class="list" data-testid="sweep-table"><thead><tr>
      ${cols.map(([key, label]) => html`<th scope="col" aria-sort=${sort.key === key ? (sort.asc ? "ascending" : "descending") : "none"}>
        <button class="link" data-sort=${key} onClick=${() => click(key)}>${label}${sort.key === key ? (sort.asc ? " ▲" : " ▼") : ""}</button></th>`)}
      <th scope="col">Best</th></tr></thead>
      <tbody>${rows.map((r) => html`<tr data-run=${r.run_id} class=${r.run_id === best ? "best" : ""}>
        <th scope="row"><${Link} href=${`/runs/${r.run_id}`}>#${r.run_id}</${Link}></th>
        ${d.swept.map((p) => html`<td data-param=${p}>${JSON.stringify(r.swept[p])}</td>`)}
        <td><${Status} status=${r.status} /></td><td>${duration(r.duration)}</td>
        ${d.metrics.map((m) => html`<td data-key=${m}>${number(r.metrics[m])}</td>`)}
        <td data-testid=${r.run_id === best ? "best-mark" : undefined}>${r.run_id === best ? html`<strong>★ best</strong>` : ""}</td></tr>`)}</tbody>
    </table></div>`;
}

const W = 560, H = 260, PAD = 44;

/** The range of `xs` with a margin, and a mapping of it onto [a, b]. */
function scale(xs, a, b) {
  let lo = Math.min(...xs), hi = Math.max(...xs);
  if (lo === hi) { lo -= 1; hi += 1; }
  return { lo, hi, at: (v) => a + ((v - lo) / (hi - lo)) * (b - a) };
}

function Scatter({ d }) {
  const numeric = d.swept.filter((p) => d.rows.some((r) => typeof r.swept[p] === "number"));
  const [param, setParam] = useState(numeric[0] || "");
  const [metric, setMetric] = useState(d.ranked_by && d.metrics.includes(d.ranked_by) ? d.ranked_by : d.metrics[0]);
  if (!numeric.length) return html`<p class="muted">No numeric param to plot.</p>`;
  const p = numeric.includes(param) ? param : numeric[0];
  const points = d.rows.filter((r) => typeof r.swept[p] === "number" && typeof r.metrics[metric] === "number")
    .map((r) => ({ id: r.run_id, x: r.swept[p], y: r.metrics[metric] }));
  const sx = scale(points.map((pt) => pt.x), PAD, W - 10), sy = scale(points.map((pt) => pt.y), H - PAD + 14, 10);
  const ticks = (s) => [0, 0.5, 1].map((f) => s.lo + f * (s.hi - s.lo));
  const summary = `${metric} against ${p}: ${points.length} runs${d.best ? `, best run #${d.best.run_id}` : ""}`;
  return html`<div class="row">
      <label>Param <select aria-label="Param on the x axis" value=${p} onChange=${(e) => setParam(e.target.value)}>${numeric.map((n) => html`<option value=${n}>${n}</option>`)}</select></label>
      <label>Metric <select aria-label="Metric on the y axis" value=${metric} onChange=${(e) => setMetric(e.target.value)}>${d.metrics.map((m) => html`<option value=${m}>${m}</option>`)}</select></label>
    </div>
    <div class="scatter" data-testid="sweep-scatter">
      <svg viewBox=${`0 0 ${W} ${H}`} width="100%" role="img" aria-label=${summary} style="max-width:720px">
        <line class="axis" x1=${PAD} x2=${W - 10} y1=${H - PAD + 20} y2=${H - PAD + 20} /><line class="axis" x1=${PAD - 6} x2=${PAD - 6} y1="6" y2=${H - PAD + 20} />
        ${ticks(sx).map((v) => html`<text x=${sx.at(v)} y=${H - 6} text-anchor="middle">${number(v)}</text>`)}
        ${ticks(sy).map((v) => html`<text x=${PAD - 10} y=${sy.at(v) + 4} text-anchor="end">${number(v)}</text>`)}
        ${points.map((pt) => html`<circle class=${pt.id === d.best?.run_id ? "dot best" : "dot"} cx=${sx.at(pt.x)} cy=${sy.at(pt.y)} r=${pt.id === d.best?.run_id ? 7 : 5} data-run=${pt.id}>
          <title>run #${pt.id}: ${p}=${number(pt.x)}, ${metric}=${number(pt.y)}${pt.id === d.best?.run_id ? " (best)" : ""}</title></circle>`)}
      </svg></div>`;
}
