// One workflow: its graph coloured by the last run, schedule, recent runs; the editor; the
// version history with a side-by-side diff and restore; trigger, clone, pause, delete.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, q } from "../api.js";
import { subscribe } from "../live.js";
import { html, Link, Time, Status, useLoad, ErrorBox, Empty, Spinner, Modal, canEdit, title, navigate, toast, duration, fieldErrors, Field, stamp, ask } from "../ui.js";
import { Tabs, TabPanel } from "../tabs.js";
import { Dag } from "../dag.js";
import { Diff } from "../editor.js";
import { ParamsForm, defaults } from "../params.js";
import { WorkflowEditor } from "./workflow_edit.js";
import { RunGrid } from "../grid.js";
import { BackfillDialog, Backfills, recurring } from "../backfill.js";
import { SaveTemplateDialog } from "../templates.js";
import { SweepDialog, Sweeps } from "../sweep.js";
import { WorkflowStats } from "./workflow_stats.js";

const enc = encodeURIComponent;

export function NewWorkflowPage() {
  title("New workflow");
  return html`<div class="page">
    <div class="crumbs"><${Link} href="/workflows">Workflows</${Link}> /</div>
    <div class="page-head"><h1>New workflow</h1></div>
    ${canEdit() ? html`<${WorkflowEditor} initial=${null} onSaved=${(wf) => navigate(`/workflows/${enc(wf.name)}`)} onCancel=${() => navigate("/workflows")} />`
      : html`<${Empty} title="Viewers cannot create workflows">Ask an admin for the editor role.</${Empty}>`}
  </div>`;
}

function useTab() {
  const [tab, setTabState] = useState(new URLSearchParams(location.search).get("tab") || "overview");
  const setTab = (t) => { history.replaceState(null, "", `${location.pathname}${t === "overview" ? "" : `?tab=${t}`}`); setTabState(t); };
  return [tab, setTab];
}

export function WorkflowPage({ ref_ }) {
  const [tab, setTab] = useTab();
  const [dialog, setDialog] = useState(null);
  const wf = useLoad(() => api(`/api/v1/workflows/${enc(ref_)}`), [ref_]);
  const runs = useLoad(() => api(`/api/v1/runs${q({ workflow: ref_, limit: 10 })}`), [ref_]);
  const w = wf.data;
  title(w?.name || ref_);

  useEffect(() => {
    if (!w) return;
    let t = null;
    return subscribe(`workflow:${w.id}`, (e) => {
      if (e.type === "workflow.updated" && tab !== "edit") wf.reload();
      if (e.type === "workflow.deleted") navigate("/workflows");
      if (e.type.startsWith("run.") && t === null) t = setTimeout(() => { t = null; runs.reload(); }, 300);
    });
  }, [w?.id, tab]);
  // `t` anywhere on this page opens the trigger dialog. Listening from the first render on
  // (the workflow read through a ref): an effect keyed on `w` starts listening only after the
  // loaded page has been painted, and a `t` pressed as the page appears was lost.
  const current = useRef(w);
  current.current = w;
  useEffect(() => {
    const open = () => current.current && canEdit() && setDialog("trigger");
    document.addEventListener("plait:trigger", open);
    return () => document.removeEventListener("plait:trigger", open);
  }, []);

  if (wf.error && !w) return html`<div class="page"><${ErrorBox} error=${wf.error} onRetry=${wf.reload} />${wf.error.status === 404 ? html`<p><${Link} href="/workflows">Back to workflows</${Link}></p>` : null}</div>`;
  if (!w) return html`<${Spinner} />`;
  const edit = canEdit();
  const setPaused = async (paused) => {
    try { await api(`/api/v1/workflows/${w.id}`, { method: "PATCH", body: { paused } }); wf.reload(); toast(paused ? "Paused: the schedule will not start runs" : "Resumed"); }
    catch (err) { toast(err.message, "bad"); }
  };
  const remove = async () => {
    if (!await ask({ title: `Delete ${w.name}?`, message: "The workflow goes with all its runs and versions. This cannot be undone.", action: "Delete", danger: true })) return;
    try { await api(`/api/v1/workflows/${w.id}`, { method: "DELETE" }); toast(`Deleted ${w.name}`); navigate("/workflows"); }
    catch (err) { toast(err.message, "bad"); }
  };
  const tabs = [["overview", "Overview"], ...(edit ? [["edit", "Edit"]] : []), ["versions", "Versions"], ["stats", "Stats"]];

  return html`<div class="page" data-workflow-id=${w.id}>
    <div class="crumbs"><${Link} href="/workflows">Workflows</${Link}> /</div>
    <div class="page-head">
      <h1>${w.name}</h1>${w.paused ? html`<span class="status s-cancelled">paused</span>` : null}
      <small>version ${w.current_version}${w.owner ? ` · owner ${w.owner}` : ""}</small>
      <div class="actions">
        ${edit ? html`
          <button class="primary" onClick=${() => setDialog("trigger")} title="Trigger a run (t)">▶ Trigger</button>
          ${recurring(w) ? html`<button onClick=${() => setDialog("backfill")} title="Runs for the schedule's past fire times">Backfill</button>` : null}
          <button onClick=${() => setDialog("sweep")} title="One run per combination of param values">Sweep</button>
          <button onClick=${() => setPaused(!w.paused)}>${w.paused ? "Resume" : "Pause"}</button>
          <button onClick=${() => setDialog("clone")}>Clone</button>
          <button onClick=${() => setDialog("template")}>Save as template</button>
          <button class="danger" onClick=${remove}>Delete</button>` : null}
      </div>
    </div>
    <${Tabs} id="workflow" label="Workflow sections" tabs=${tabs} current=${tab} onSelect=${setTab} />
    <${TabPanel} id="workflow" current=${tab}>${tab === "overview" ? html`<${Overview} w=${w} runs=${runs} />`
      : tab === "edit" && edit ? html`<${WorkflowEditor} key=${w.current_version} initial=${w} version=${w.current_version}
          onSaved=${(saved) => { wf.setData(saved); if (saved.name !== ref_) navigate(`/workflows/${enc(saved.name)}?tab=edit`, { replace: true }); }} />`
      : tab === "stats" ? html`<${WorkflowStats} w=${w} />`
      : html`<${Versions} w=${w} onRestored=${(saved) => { wf.setData(saved); }} />`}</${TabPanel}>
    ${dialog === "trigger" ? html`<${TriggerDialog} w=${w} onClose=${() => setDialog(null)} />` : null}
    ${dialog === "backfill" ? html`<${BackfillDialog} w=${w} onClose=${() => setDialog(null)} />` : null}
    ${dialog === "sweep" ? html`<${SweepDialog} w=${w} onClose=${() => setDialog(null)} />` : null}
    ${dialog === "clone" ? html`<${CloneDialog} w=${w} onClose=${() => setDialog(null)} />` : null}
    ${dialog === "template" ? html`<${SaveTemplateDialog} w=${w} onClose=${() => setDialog(null)} />` : null}
  </div>`;
}

function Overview({ w, runs }) {
  const last = runs.data?.items?.[0];
  const lastRun = useLoad(() => (last ? api(`/api/v1/runs/${last.id}`) : Promise.resolve(null)), [last?.id, last?.status]);
  const statuses = Object.fromEntries((lastRun.data?.tasks || []).map((t) => [t.key, t.status]));
  return html`<div class="grid">
    <div>
      <div class="card"><h2>Graph ${last ? html`<small>coloured by <${Link} href=${`/runs/${last.id}`}>run ${last.id}</${Link}></small>` : html`<small>no runs yet</small>`}</h2>
        ${w.tasks.length ? html`<${Dag} tasks=${w.tasks} statuses=${statuses} onSelect=${(k) => last && navigate(`/runs/${last.id}?task=${enc(k)}`)} />`
          : html`<${Empty} title="No tasks yet">${canEdit() ? "Open the Edit tab to add the first task." : "An editor can add tasks."}</${Empty}>`}
      </div>
      <div class="card" data-testid="history"><h2>History</h2><${RunGrid} w=${w} /></div>
      <div class="card"><h2>Recent runs <${Link} href=${`/runs?workflow=${enc(w.name)}`} style="margin-left:auto;font-size:13px">All runs →</${Link}>${runs.data?.items?.length > 1 ? html`<${Link} href=${`/compare?ids=${runs.data.items.map((r) => r.id).join(",")}`} style="font-size:13px">Compare these →</${Link}>` : null}</h2>
        <${ErrorBox} error=${runs.error} onRetry=${runs.reload} />
        ${runs.data?.items?.length ? html`<table class="list" data-testid="recent-runs"><thead><tr><th>Run</th><th>Status</th><th>Trigger</th><th>Started</th><th>Duration</th></tr></thead>
          <tbody>${runs.data.items.map((r) => html`<tr data-run=${r.id}><td><${Link} href=${`/runs/${r.id}`}>#${r.id}</${Link}></td><td><${Status} status=${r.status} /></td>
            <td>${r.trigger}${r.triggered_by ? html` <small>by ${r.triggered_by}</small>` : null}</td><td><${Time} iso=${r.started_at || r.created_at} /></td><td>${duration(r.duration)}</td></tr>`)}</tbody></table>`
          : runs.data ? html`<${Empty} title="No runs yet">${canEdit() ? html`Press <kbd>t</kbd> or <b>Trigger</b> to start one.` : "Runs appear here when an editor or the schedule starts one."}</${Empty}>` : html`<${Spinner} />`}
      </div>
    </div>
    <div>
      <div class="card"><h2>About</h2>
        ${w.description ? html`<p>${w.description}</p>` : null}
        <dl class="kv">
          <dt>Schedule</dt><dd>${w.schedule ? html`<code>${w.schedule}</code> <small>${w.timezone}</small>` : "manual only"}</dd>
          ${w.schedule ? html`<dt>Next runs</dt><dd data-testid="next-fire">${w.paused ? "none while paused" : w.next_fire_times.map((t) => html`<div><time datetime=${t} title=${stamp(t)}>${stamp(t, w.timezone)}</time></div>`)}</dd>` : null}
          <dt>Tags</dt><dd>${w.tags.length ? w.tags.map((t) => html`<${Link} class="chip" href=${`/workflows?tag=${enc(t)}`}>#${t}</${Link}> `) : "–"}</dd>
          <dt>Tasks</dt><dd>${w.tasks.length}</dd>
          <dt>Max active runs</dt><dd>${w.max_active_runs}</dd>
          ${w.sla_seconds ? html`<dt>SLA</dt><dd>${duration(w.sla_seconds)}</dd>` : null}
          <dt>Runs kept</dt><dd data-testid="retention">${w.retention_days === 0 ? "for ever" : w.retention_days ? `${w.retention_days} days` : "the server's default"}</dd>
          ${w.triggers?.length ? html`<dt>Runs after</dt><dd>${w.triggers.map((t) => html`<div><${Link} href=${`/workflows/${enc(t.workflow)}`}>${t.workflow}</${Link}> on ${t.on}</div>`)}</dd>` : null}
          <dt>Changed</dt><dd><${Time} iso=${w.updated_at} /></dd>
        </dl>
      </div>
      <${Backfills} w=${w} />
      <${Sweeps} w=${w} />
      <div class="card"><h2>Parameters</h2>
        ${Object.keys(w.params).length ? html`<dl class="kv">${Object.entries(w.params).map(([name, p]) => html`<dt><code>${name}</code></dt>
          <dd>${p.type}${p.required ? ", required" : ""}${p.default !== undefined && p.default !== null ? html`, default <code>${JSON.stringify(p.default)}</code>` : null}${p.enum ? html`, one of <code>${JSON.stringify(p.enum)}</code>` : null}${p.description ? html`<div class="muted">${p.description}</div>` : null}</dd>`)}</dl>`
          : html`<p class="muted">None.</p>`}
      </div>
    </div>
  </div>`;
}

function TriggerDialog({ w, onClose }) {
  const [value, setValue] = useState(() => defaults(w.params));
  const [description, setDescription] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    try {
      const run = await api(`/api/v1/workflows/${w.id}/runs`, { method: "POST", body: { params: value, description } });
      onClose();
      navigate(`/runs/${run.id}`);
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  const errors = fieldErrors(error, []);
  return html`<${Modal} title=${`Trigger ${w.name}`} onClose=${onClose}>
    <form onSubmit=${submit} data-testid="trigger-form" novalidate>
      <${ParamsForm} schema=${w.params} value=${value} onChange=${setValue} errors=${errors} />
      <div class="field"><label for="run-description">Note (optional)</label>
        <input id="run-description" value=${description} placeholder="why this run" onInput=${(e) => setDescription(e.target.value)} /></div>
      ${error && !error.errors?.length ? html`<${ErrorBox} error=${error} />` : null}
      <footer><button type="button" onClick=${onClose}>Cancel</button><button class="primary" type="submit" disabled=${busy}>${busy ? "Starting…" : "Start run"}</button></footer>
    </form>
  </${Modal}>`;
}

function CloneDialog({ w, onClose }) {
  const [name, setName] = useState(`${w.name}-copy`);
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    try {
      const copy = await api(`/api/v1/workflows/${w.id}/clone`, { method: "POST", body: { name } });
      toast(`Cloned into ${copy.name}`);
      onClose();
      navigate(`/workflows/${enc(copy.name)}`);
    } catch (err) { setError(err); }
  };
  const errors = fieldErrors(error, []);
  return html`<${Modal} title=${`Clone ${w.name}`} onClose=${onClose}>
    <form onSubmit=${submit}>
      <p class="muted">A new workflow with the same definition, starting at version 1, paused state and history not copied.</p>
      <${Field} id="clone-name" name="name" label="New name" fe=${errors}>
        <input id="clone-name" value=${name} onInput=${(e) => setName(e.target.value)} autofocus /></${Field}>
      ${error && !error.errors?.length ? html`<${ErrorBox} error=${error} />` : null}
      <footer><button type="button" onClick=${onClose}>Cancel</button><button class="primary" type="submit">Clone</button></footer>
    </form>
  </${Modal}>`;
}

function Versions({ w, onRestored }) {
  const list = useLoad(() => api(`/api/v1/workflows/${w.id}/versions?limit=100`), [w.id, w.current_version]);
  const [pair, setPair] = useState(null); // [older, newer]
  const items = list.data?.items || [];
  useEffect(() => { if (items.length > 1 && !pair) setPair([items[1].version, items[0].version]); }, [items.length]);
  const restore = async (n) => {
    if (!await ask({ title: `Restore version ${n}?`, message: "It becomes a new version; nothing is lost.", action: "Restore" })) return;
    try {
      const saved = await api(`/api/v1/workflows/${w.id}/versions/${n}/restore`, { method: "POST" });
      toast(`Restored version ${n} as version ${saved.current_version}`);
      onRestored(saved);
    } catch (err) { toast(err.message, "bad"); }
  };
  if (list.error) return html`<${ErrorBox} error=${list.error} onRetry=${list.reload} />`;
  if (!list.data) return html`<${Spinner} />`;
  return html`<div class="grid">
    <div class="card"><h2>Compare</h2>
      ${items.length < 2 ? html`<${Empty} title="Only one version so far">Every save that changes the definition adds a version here.</${Empty}>`
        : pair ? html`<${Compare} w=${w} a=${pair[0]} b=${pair[1]} versions=${items} setPair=${setPair} />` : null}
    </div>
    <div class="card"><h2>History</h2>
      <ul class="versions" data-testid="versions">${items.map((v) => html`<li data-version=${v.version}>
        <b>v${v.version}</b>${v.version === w.current_version ? html` <span class="status s-succeeded">current</span>` : null}
        <span style="flex:1"><${Time} iso=${v.created_at} />${v.created_by ? ` by ${v.created_by}` : ""}<div class="muted">${v.message}</div></span>
        ${v.version !== w.current_version ? html`<button class="link" onClick=${() => setPair([v.version, w.current_version])}>Diff</button>` : null}
        ${canEdit() && v.version !== w.current_version ? html`<button onClick=${() => restore(v.version)}>Restore</button>` : null}
      </li>`)}</ul>
    </div>
  </div>`;
}

function Compare({ w, a, b, versions, setPair }) {
  // As `plait export` writes each version (the server's YAML, as in the editor's YAML tab).
  const docs = useLoad(() => Promise.all([a, b].map((n) => api(`/api/v1/workflows/${w.id}/versions/${n}/export`, { text: true }))), [a, b]);
  const summary = useLoad(() => api(`/api/v1/workflows/${w.id}/versions/${a}/diff/${b}`), [a, b]);
  const pick = (i) => html`<select aria-label=${i ? "Newer version" : "Older version"} value=${[a, b][i]} onChange=${(e) => setPair(i ? [a, Number(e.target.value)] : [Number(e.target.value), b])}>
    ${versions.map((v) => html`<option value=${v.version}>v${v.version}</option>`)}</select>`;
  const s = summary.data;
  const changed = s ? [...Object.keys(s.fields), ...Object.entries(s.tasks).flatMap(([kind, v]) => { const keys = Array.isArray(v) ? v : Object.keys(v); return keys.length ? [`tasks ${kind}: ${keys.join(", ")}`] : []; })] : [];
  return html`<div>
    <div class="toolbar">${pick(0)} → ${pick(1)} ${s ? html`<small>${changed.length ? `changed: ${changed.join("; ")}` : "no differences"}</small>` : null}</div>
    <${ErrorBox} error=${docs.error} />
    ${docs.data ? html`<${Diff} a=${docs.data[0]} b=${docs.data[1]} labels=${[`Version ${a}`, `Version ${b}`]} />` : html`<${Spinner} />`}
  </div>`;
}
