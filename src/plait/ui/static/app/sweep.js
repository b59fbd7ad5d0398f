// Sweeps: the dialog that launches one from the workflow page (a row per param with a values
// list for a grid, or a distribution for a random search, and the live count of the runs it
// makes), then opens the sweep's page; and the list of the workflow's sweeps.
import { useEffect, useState } from "preact/hooks";
import { api, q } from "./api.js";
import { subscribe } from "./live.js";
import { html, Link, Modal, ErrorBox, Field, Status, fieldErrors, navigate, toast, useLoad } from "./ui.js";

export const MAX_COMBINATIONS = 1000; // more need an explicit max runs (the server's rule)
const DISTRIBUTIONS = [["", "not swept"], ["choice", "one of (values)"], ["uniform", "uniform (low, high)"],
  ["log_uniform", "log-uniform (low, high)"], ["int", "integer (low, high)"]];

/** "0.1, 0.01, adam" as values: each JSON when it is JSON (numbers, true), else the text. */
export function values(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean).map((s) => { try { return JSON.parse(s); } catch { return s; } });
}

/** What the form asks for: {grid} or {random}, from the rows that sweep a param. */
function swept(form) {
  const rows = Object.entries(form.rows).filter(([, r]) => (form.kind === "grid" ? r.values.trim() : r.dist && r.values.trim()));
  if (form.kind === "grid") return { grid: Object.fromEntries(rows.map(([name, r]) => [name, values(r.values)])) };
  const space = Object.fromEntries(rows.map(([name, r]) => [name, { [r.dist]: values(r.values) }]));
  return { random: { n: Number(form.n), space, ...(form.seed.trim() ? { seed: Number(form.seed) } : {}) } };
}

/** How many combinations the form makes, and how many runs (max runs caps them). */
export function count(form) {
  const body = swept(form);
  const total = body.grid ? (Object.keys(body.grid).length ? Object.values(body.grid).reduce((n, v) => n * v.length, 1) : 0)
    : Object.keys(body.random.space).length ? Number(form.n) || 0 : 0;
  const cap = Number(form.max_runs) || null;
  return { total, runs: cap ? Math.min(total, cap) : total, capped: Boolean(cap) };
}

export function SweepDialog({ w, onClose }) {
  const names = Object.keys(w.params);
  const [form, setForm] = useState({ kind: "grid", n: "10", seed: "", max_parallel: "2", max_runs: "", metric: "", direction: "max",
    rows: Object.fromEntries(names.map((n) => [n, { values: "", dist: "" }])) });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (name) => (e) => setForm((f) => ({ ...f, [name]: e.target.value }));
  const setRow = (name, part) => (e) => setForm((f) => ({ ...f, rows: { ...f.rows, [name]: { ...f.rows[name], [part]: e.target.value } } }));
  const { total, runs, capped } = count(form);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    try {
      const body = { ...swept(form), max_parallel: Number(form.max_parallel), direction: form.direction,
        ...(form.max_runs.trim() ? { max_runs: Number(form.max_runs) } : {}), ...(form.metric.trim() ? { metric: form.metric.trim() } : {}) };
      const made = await api(`/api/v1/workflows/${w.id}/sweeps`, { method: "POST", body });
      toast(`Sweep #${made.id}: ${made.total} runs`);
      navigate(`/sweeps/${made.id}`);
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  const fe = fieldErrors(error, []);
  const grid = form.kind === "grid";
  return html`<${Modal} title=${`Sweep ${w.name}`} onClose=${onClose} wide>
    <form onSubmit=${submit} data-testid="sweep-form" novalidate>
      <fieldset class="row"><legend>Search</legend>
        <label><input type="radio" name="kind" value="grid" checked=${grid} onChange=${set("kind")} /> Grid: every combination</label>
        <label><input type="radio" name="kind" value="random" checked=${!grid} onChange=${set("kind")} /> Random: draws from distributions</label>
      </fieldset>
      ${names.length ? html`<table class="list sweep-params"><thead><tr><th scope="col">Param</th>${grid ? null : html`<th scope="col">Distribution</th>`}<th scope="col">${grid ? "Values (comma separated)" : "Values or low, high"}</th></tr></thead>
        <tbody>${names.map((name) => html`<tr data-param=${name}><th scope="row"><label for=${`sweep-${name}`}><code>${name}</code></label> <small>${w.params[name].type}</small></th>
          ${grid ? null : html`<td><select aria-label=${`Distribution of ${name}`} value=${form.rows[name].dist} onChange=${setRow(name, "dist")}>
            ${DISTRIBUTIONS.map(([v, label]) => html`<option value=${v}>${label}</option>`)}</select></td>`}
          <td><${Field} id=${`sweep-${name}`} name=${grid ? `grid.${name}` : `random.space.${name}`} fe=${fe}>
            <input id=${`sweep-${name}`} value=${form.rows[name].values} onInput=${setRow(name, "values")} placeholder=${grid ? "e.g. 0.1, 0.01" : "e.g. 0.0001, 0.1"} /></${Field}></td></tr>`)}</tbody></table>`
        : html`<p class="muted">This workflow has no params to sweep; add some in its Edit tab.</p>`}
      <div class="row">
        ${grid ? null : html`<${Field} id="sweep-n" name="random.n" label="Draws" fe=${fe}><input id="sweep-n" type="number" min="1" inputmode="numeric" value=${form.n} onInput=${set("n")} /></${Field}>
          <${Field} id="sweep-seed" name="random.seed" label="Seed" fe=${fe} hint="same seed, same draws"><input id="sweep-seed" inputmode="numeric" value=${form.seed} onInput=${set("seed")} /></${Field}>`}
        <${Field} id="sweep-parallel" name="max_parallel" label="Max parallel" fe=${fe} hint="runs at once (1–32)">
          <input id="sweep-parallel" type="number" min="1" max="32" inputmode="numeric" value=${form.max_parallel} onInput=${set("max_parallel")} /></${Field}>
        <${Field} id="sweep-max-runs" name="max_runs" label="Max runs" fe=${fe} hint="optional cap">
          <input id="sweep-max-runs" type="number" min="1" inputmode="numeric" value=${form.max_runs} onInput=${set("max_runs")} /></${Field}>
        <${Field} id="sweep-metric" name="metric" label="Metric" fe=${fe} hint="ranks the runs"><input id="sweep-metric" value=${form.metric} onInput=${set("metric")} placeholder="e.g. accuracy" /></${Field}>
        <${Field} id="sweep-direction" name="direction" label="Better is" fe=${fe}><select id="sweep-direction" value=${form.direction} onChange=${set("direction")}>
          <option value="max">higher</option><option value="min">lower</option></select></${Field}>
      </div>
      <p data-testid="sweep-count" aria-live="polite"><b data-testid="sweep-runs">${runs}</b> ${runs === 1 ? "run" : "runs"}
        ${total !== runs ? html` <small>(the first ${runs} of ${total} combinations)</small>` : null}
        ${total > MAX_COMBINATIONS && !capped ? html` <span class="field-error">More than ${MAX_COMBINATIONS}: give fewer values or set max runs.</span>` : null}</p>
      ${error ? html`<${ErrorBox} error=${error} />` : null}
      <footer><button type="button" onClick=${onClose}>Close</button><button class="primary" type="submit" disabled=${busy || !runs}>${busy ? "Starting…" : "Start sweep"}</button></footer>
    </form>
  </${Modal}>`;
}

/** The workflow's sweeps, newest first, each linking to its page (shown once there is one). */
export function Sweeps({ w }) {
  const list = useLoad(() => api(`/api/v1/workflows/${w.id}/sweeps${q({ limit: 20 })}`), [w.id]);
  useEffect(() => {
    let t = null;
    const off = subscribe(`workflow:${w.id}`, (e) => {
      if (e.type.startsWith("sweep.") && t === null) t = setTimeout(() => { t = null; list.reload(); }, 500);
    });
    return () => { off(); clearTimeout(t); };
  }, [w.id, list.reload]);
  const items = list.data?.items || [];
  if (!items.length && !list.error) return null;
  return html`<div class="card"><h2>Sweeps</h2>
    <${ErrorBox} error=${list.error} onRetry=${list.reload} />
    <table class="list" data-testid="sweeps"><thead><tr><th scope="col">Sweep</th><th scope="col">Over</th><th scope="col">Status</th><th scope="col">Ended</th></tr></thead>
      <tbody>${items.map((s) => html`<tr data-sweep=${s.id}><th scope="row"><${Link} href=${`/sweeps/${s.id}`}>#${s.id}</${Link}></th>
        <td>${s.kind}: ${s.swept.join(", ")}</td><td><${Status} status=${s.status} /></td>
        <td>${s.counts.succeeded + s.counts.failed + s.counts.cancelled} / ${s.total}</td></tr>`)}</tbody></table>
  </div>`;
}
