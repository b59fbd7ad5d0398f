// Backfills (workflows with a recurring schedule): a dialog that makes one run per fire time
// of a date range, saying first how many that is, then follows the backfill (counts and a
// bar) with Cancel and Retry failed; and the list of the workflow's backfills.
import { useEffect, useState } from "preact/hooks";
import { api, q } from "./api.js";
import { subscribe } from "./live.js";
import { html, Link, Modal, ErrorBox, Spinner, Status, Field, fieldErrors, useLoad, canEdit, toast } from "./ui.js";

const COUNTS = ["queued", "running", "succeeded", "failed", "cancelled"];

/** A time in the workflow's timezone (where its schedule fires), in the browser's locale. */
function zoned(iso, timeZone, time = true) {
  if (!iso) return "–";
  const style = time ? { dateStyle: "medium", timeStyle: "short" } : { dateStyle: "medium" };
  try { return new Intl.DateTimeFormat(undefined, { ...style, timeZone }).format(new Date(iso)); }
  catch { return new Date(iso).toLocaleString(); } // a zone this browser does not know
}

/** A schedule that fires more than once (only those have a past to fill). */
export const recurring = (w) => Boolean(w.schedule) && w.schedule !== "@once";

/** Reload `reload` (at most twice a second) on the workflow's run and backfill events. */
function useWorkflowEvents(workflowId, reload) {
  useEffect(() => {
    let t = null;
    const off = subscribe(`workflow:${workflowId}`, (e) => {
      if ((e.type.startsWith("run.") || e.type.startsWith("backfill.")) && t === null) t = setTimeout(() => { t = null; reload(); }, 500);
    });
    return () => { off(); clearTimeout(t); };
  }, [workflowId, reload]);
}

export function BackfillDialog({ w, open, onClose }) {
  const [id, setId] = useState(open ?? null);
  return html`<${Modal} title=${id ? `Backfill #${id} of ${w.name}` : `Backfill ${w.name}`} onClose=${onClose}>
    ${id ? html`<${BackfillProgress} w=${w} id=${id} onClose=${onClose} />` : html`<${BackfillForm} w=${w} onCreated=${setId} onClose=${onClose} />`}
  </${Modal}>`;
}

function BackfillForm({ w, onCreated, onClose }) {
  const [form, setForm] = useState({ start: "", end: "", max_parallel: "1" });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (name) => (e) => setForm((f) => ({ ...f, [name]: e.target.value }));
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    try {
      const made = await api(`/api/v1/workflows/${w.id}/backfills`, { method: "POST", body: { start: form.start, end: form.end, max_parallel: Number(form.max_parallel) } });
      toast(`Backfill #${made.id}: ${made.total} runs`);
      onCreated(made.id);
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  const fe = fieldErrors(error, []);
  return html`<form onSubmit=${submit} data-testid="backfill-form" novalidate>
    <p class="muted">One run for each time <code>${w.schedule}</code> fires between the two dates (both included, in ${w.timezone}). Times that already have a run are skipped.</p>
    <div class="row">
      <${Field} id="backfill-start" name="start" label="Start date" fe=${fe}><input id="backfill-start" type="date" required value=${form.start} onInput=${set("start")} /></${Field}>
      <${Field} id="backfill-end" name="end" label="End date" fe=${fe}><input id="backfill-end" type="date" required value=${form.end} onInput=${set("end")} /></${Field}>
      <${Field} id="backfill-parallel" name="max_parallel" label="Max parallel" fe=${fe} hint="runs at once (1–32)">
        <input id="backfill-parallel" type="number" min="1" max="32" inputmode="numeric" value=${form.max_parallel} onInput=${set("max_parallel")} /></${Field}>
    </div>
    <${Preview} w=${w} start=${form.start} end=${form.end} />
    ${error && !error.errors?.length ? html`<${ErrorBox} error=${error} />` : null}
    <footer><button type="button" onClick=${onClose}>Close</button><button class="primary" type="submit" disabled=${busy}>${busy ? "Starting…" : "Start backfill"}</button></footer>
  </form>`;
}

/** How many runs the range would make, asked of the server (its fire times are cron's). */
function Preview({ w, start, end }) {
  const [state, setState] = useState(null);
  useEffect(() => {
    if (!start || !end) { setState(null); return; }
    const ctl = new AbortController();
    const t = setTimeout(() => {
      api(`/api/v1/workflows/${w.id}/fire-times${q({ start, end })}`, { signal: ctl.signal })
        .then((data) => setState({ data }), (error) => error.name !== "AbortError" && setState({ error }));
    }, 250);
    return () => { clearTimeout(t); ctl.abort(); };
  }, [w.id, start, end]);
  if (!state) return html`<p class="muted" data-testid="backfill-preview">Pick the first and the last day.</p>`;
  if (state.error) return html`<p class="field-error" role="alert" data-testid="backfill-preview">${state.error.errors?.[0]?.message || state.error.message}</p>`;
  const { count, existing, first, last } = state.data;
  const makes = count - existing;
  return html`<p data-testid="backfill-preview" aria-live="polite"><b data-testid="backfill-count">${makes}</b> ${makes === 1 ? "run" : "runs"} to make
    ${count ? html` <small>(${count} fire ${count === 1 ? "time" : "times"}, ${zoned(first, w.timezone)} to ${zoned(last, w.timezone)}${existing ? `; ${existing} already ran and are skipped` : ""})</small>` : null}</p>`;
}

export function BackfillProgress({ w, id }) {
  const b = useLoad(() => api(`/api/v1/backfills/${id}`), [id]);
  useWorkflowEvents(w.id, b.reload);
  const act = async (verb) => {
    try {
      const out = await api(`/api/v1/backfills/${id}/${verb}`, { method: "POST" });
      b.setData(out);
      toast(verb === "cancel" ? "Cancelling the backfill's unfinished runs" : "Retrying the failed runs");
    } catch (err) { toast(err.message, "bad"); }
  };
  if (b.error && !b.data) return html`<${ErrorBox} error=${b.error} onRetry=${b.reload} />`;
  if (!b.data) return html`<${Spinner} />`;
  const d = b.data;
  const ended = d.counts.succeeded + d.counts.failed + d.counts.cancelled;
  const pct = d.total ? Math.round((ended / d.total) * 100) : 100;
  return html`<div data-testid="backfill" data-status=${d.status}>
    <p><${Status} status=${d.status} /> ${zoned(d.start, d.timezone, false)} to ${zoned(d.end, d.timezone, false)} <small>(${d.timezone}), at most ${d.max_parallel} at once</small></p>
    <div class="progress"><div class="progress-track" role="progressbar" aria-label="Backfill runs ended" aria-valuemin="0" aria-valuemax="100" aria-valuenow=${pct}
      aria-valuetext=${`${ended} of ${d.total} runs ended`}><span style=${`width:${pct}%`}></span></div>
      <small data-testid="backfill-ended">${ended} of ${d.total} runs ended</small></div>
    <dl class="kv counts" data-testid="backfill-counts">${COUNTS.map((k) => html`<dt>${k}</dt><dd data-count=${k}>${d.counts[k]}</dd>`)}
      ${d.skipped.length ? html`<dt>skipped</dt><dd data-count="skipped" title=${d.skipped.map((t) => zoned(t, d.timezone)).join("\n")}>${d.skipped.length}</dd>` : null}</dl>
    ${d.runs?.length ? html`<details><summary>Runs</summary><ul class="backfill-runs">${d.runs.map((r) => html`<li>
      <${Link} href=${`/runs/${r.id}`}>#${r.id}</${Link}> ${zoned(r.scheduled_for, d.timezone)} <${Status} status=${r.status} /></li>`)}</ul></details>` : null}
    ${canEdit() ? html`<footer>
      ${d.status === "running" ? html`<button class="danger" onClick=${() => act("cancel")}>Cancel backfill</button>` : null}
      ${d.counts.failed + d.counts.cancelled > 0 ? html`<button onClick=${() => act("retry")}>Retry failed</button>` : null}
    </footer>` : null}
  </div>`;
}

/** The workflow's backfills, newest first; one opens in the dialog. */
export function Backfills({ w }) {
  const [open, setOpen] = useState(null);
  const list = useLoad(() => api(`/api/v1/workflows/${w.id}/backfills${q({ limit: 20 })}`), [w.id]);
  useWorkflowEvents(w.id, list.reload);
  const items = list.data?.items || [];
  if (!recurring(w) && !items.length) return null;
  return html`<div class="card"><h2>Backfills</h2>
    <${ErrorBox} error=${list.error} onRetry=${list.reload} />
    ${items.length ? html`<table class="list" data-testid="backfills"><thead><tr><th scope="col">Backfill</th><th scope="col">Range</th><th scope="col">Status</th><th scope="col">Ended</th></tr></thead>
      <tbody>${items.map((b) => html`<tr data-backfill=${b.id}>
        <th scope="row"><button class="link" onClick=${() => setOpen(b.id)} aria-label=${`Backfill #${b.id}`}>#${b.id}</button></th>
        <td>${zoned(b.start, b.timezone, false)} – ${zoned(b.end, b.timezone, false)}</td><td><${Status} status=${b.status} /></td>
        <td>${b.counts.succeeded + b.counts.failed + b.counts.cancelled} / ${b.total}</td></tr>`)}</tbody></table>`
      : list.data ? html`<p class="muted">None yet.${canEdit() ? " Backfill runs the schedule's past fire times." : ""}</p>` : null}
    ${open ? html`<${BackfillDialog} w=${w} open=${open} onClose=${() => setOpen(null)} />` : null}
  </div>`;
}

