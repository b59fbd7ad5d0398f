// Every run, newest first: filters kept in the URL, keyset pages (the API's cursors), and
// live updates from the WebSocket so a running run's row changes without a reload.
import { useEffect, useState } from "preact/hooks";
import { api, q } from "../api.js";
import { subscribe } from "../live.js";
import { FinalMetrics } from "../final_metrics.js";
import { html, Pager, Link, Time, Status, duration, useLoad, ErrorBox, Empty, Spinner, canEdit, title, navigate } from "../ui.js";

const PAGE = 50;
const STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"];
const TRIGGERS = ["manual", "api", "schedule", "webhook", "upstream", "backfill", "sweep"];
const COMPARE = [2, 10]; // how many runs the compare page takes
const RANGES = { "1h": ["Last hour", 3600], "24h": ["Last 24 hours", 86400], "7d": ["Last 7 days", 7 * 86400] };

function readFilters() {
  const p = new URLSearchParams(location.search);
  const pick = (key, allowed) => (allowed.includes(p.get(key)) ? p.get(key) : "");
  return { workflow: p.get("workflow") || "", status: pick("status", STATUSES), trigger: pick("trigger", TRIGGERS),
           range: pick("range", Object.keys(RANGES)) };
}

// The range is relative to now, so it is turned into a time on every load, not once.
function createdAfter(range) {
  return RANGES[range] ? new Date(Date.now() - RANGES[range][1] * 1000).toISOString() : "";
}

export function RunsPage() {
  const [filters, setFilters] = useState(readFilters);
  const [cursors, setCursors] = useState([null]); // cursors[i] = cursor of page i
  const [text, setText] = useState(filters.workflow);
  const [picked, setPicked] = useState([]); // run ids ticked to compare, kept across pages and filters
  const page = cursors.length - 1;
  title("Runs");

  const list = useLoad(() => api(`/api/v1/runs${q({ limit: PAGE, cursor: cursors[page], workflow: filters.workflow, status: filters.status,
                                  trigger: filters.trigger, created_after: createdAfter(filters.range) })}`), [filters, cursors]);

  // The workflow filter is an exact name or id, so wait until typing pauses before asking.
  useEffect(() => {
    const t = setTimeout(() => text.trim() !== filters.workflow && change({ workflow: text.trim() }), 400);
    return () => clearTimeout(t);
  }, [text]);
  useEffect(() => {
    history.replaceState(null, "", `/runs${q(filters)}`);
  }, [filters]);
  // Any run changing may add or change a row here: reload at most once a second.
  useEffect(() => {
    let t = null;
    const off = subscribe("*", (e) => {
      if (e.type.startsWith("run.") && t === null) t = setTimeout(() => { t = null; list.reload(); }, 1000);
    });
    return () => { off(); clearTimeout(t); };
  }, [list.reload]);

  const change = (patch) => { setFilters((f) => ({ ...f, ...patch })); setCursors([null]); };
  const clear = () => { setText(""); change({ workflow: "", status: "", trigger: "", range: "" }); };
  const items = list.data?.items || [];
  const filtered = filters.workflow || filters.status || filters.trigger || filters.range;
  // An unknown workflow (the API's 404) is an empty result with a hint, not an error.
  const noSuchWorkflow = filters.workflow && list.error?.status === 404;

  return html`<div class="page">
    <div class="page-head"><h1>Runs</h1></div>
    <div class="toolbar">
      <input type="search" data-search placeholder="Workflow name or id  ( / )" value=${text}
        onInput=${(e) => setText(e.target.value)} onKeyDown=${(e) => e.key === "Enter" && text.trim() !== filters.workflow && change({ workflow: text.trim() })}
        aria-label="Workflow" list="runs-workflows" />
      <${WorkflowOptions} text=${text} />
      <select aria-label="Status" value=${filters.status} onChange=${(e) => change({ status: e.target.value })}>
        <option value="">Any status</option>${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
      </select>
      <select aria-label="Trigger" value=${filters.trigger} onChange=${(e) => change({ trigger: e.target.value })}>
        <option value="">Any trigger</option>${TRIGGERS.map((s) => html`<option value=${s}>${s}</option>`)}
      </select>
      <select aria-label="Created" value=${filters.range} onChange=${(e) => change({ range: e.target.value })}>
        <option value="">Any time</option>${Object.entries(RANGES).map(([k, [label]]) => html`<option value=${k}>${label}</option>`)}
      </select>
      ${filtered ? html`<button class="link" onClick=${clear}>Clear filters</button>` : null}
      ${list.loading ? html`<small>Loading…</small>` : null}
      <${CompareButton} picked=${picked} onClear=${() => setPicked([])} />
    </div>
    ${noSuchWorkflow ? null : html`<${ErrorBox} error=${list.error} onRetry=${list.reload} />`}
    ${noSuchWorkflow ? html`<${Empty} title=${`No workflow "${filters.workflow}"`}>
          <p>The workflow filter takes an exact name or id: <button class="link" onClick=${clear}>clear the filters</button>${" "}
            or pick one from the <${Link} href="/workflows">workflows</${Link}>.</p>
        </${Empty}>`
      : list.data === null && list.loading ? html`<${Spinner} />`
      : list.data === null ? null
      : items.length === 0 ? html`<${EmptyRuns} filtered=${filtered} page=${page} onClear=${clear} />`
      : html`<div class="table-wrap"><table class="list" data-testid="runs">
          <thead><tr><th><span class="visually-hidden">Compare</span></th><th>Run</th><th>Workflow</th><th>Status</th><th>Trigger</th><th>By</th><th>Created</th><th>Duration</th></tr></thead>
          <tbody>${items.map((r) => html`<${Row} key=${r.id} r=${r} picked=${picked.includes(r.id)}
            onPick=${(on) => setPicked((ids) => (on ? [...ids, r.id] : ids.filter((id) => id !== r.id)))} />`)}</tbody>
        </table></div>
        <${Pager} page=${page} next=${list.data?.next_cursor} setCursors=${setCursors} labels=${["← Newer", "Older →"]} />
        <${FinalMetrics} runs=${items} />`}
  </div>`;
}

function EmptyRuns({ filtered, page, onClear }) {
  if (filtered || page > 0) {
    return html`<${Empty} title="No run matches these filters">
      <button class="link" onClick=${onClear}>Clear the filters</button>
    </${Empty}>`;
  }
  return html`<${Empty} title="No runs yet">
    ${canEdit()
      ? html`<p>Open a workflow from the <${Link} href="/workflows">workflows</${Link}> list and trigger it${" "}
          (the <b>Trigger</b> button, or press <kbd>t</kbd> on its page), or give it a schedule.</p>`
      : html`<p>Runs appear here when an editor triggers a workflow or a schedule fires.</p>`}
  </${Empty}>`;
}

/** Ticked runs go to the compare page, 2 to 10 of them. */
function CompareButton({ picked, onClear }) {
  const [least, most] = COMPARE;
  const ok = picked.length >= least && picked.length <= most;
  const hint = picked.length < least ? `Tick ${least} to ${most} runs to compare them` : picked.length > most ? `At most ${most} runs at once` : "";
  return html`<span class="compare-pick">
    <button class="primary" disabled=${!ok} title=${hint} aria-describedby=${hint ? "compare-hint" : null}
      onClick=${() => navigate(`/compare?ids=${picked.join(",")}`)}>Compare (${picked.length})</button>
    ${hint ? html`<small id="compare-hint">${hint}</small>` : null}
    ${picked.length ? html`<button class="link" onClick=${onClear}>Untick all</button>` : null}
  </span>`;
}

function Row({ r, picked, onPick }) {
  return html`<tr data-run=${r.id}>
    <td><input type="checkbox" checked=${picked} aria-label=${`Compare run #${r.id}`} onChange=${(e) => onPick(e.target.checked)} /></td>
    <td><${Link} href=${`/runs/${r.id}`}><b>#${r.id}</b></${Link}>
      ${r.rerun_of ? html` <small title=${`rerun of run ${r.rerun_of}`}>↻ #${r.rerun_of}</small>` : null}</td>
    <td><${Link} href=${`/workflows/${encodeURIComponent(r.workflow)}`}>${r.workflow}</${Link}> <small>v${r.workflow_version}</small></td>
    <td><${Status} status=${r.status} />${r.cancel_requested && !["cancelled", "succeeded", "failed"].includes(r.status) ? html` <small>cancelling…</small>` : null}</td>
    <td>${r.trigger}${r.upstream_run_id ? html` <small>from <${Link} href=${`/runs/${r.upstream_run_id}`}>#${r.upstream_run_id}</${Link}></small>` : null}</td>
    <td>${r.triggered_by || html`<small>–</small>`}</td>
    <td><${Time} iso=${r.created_at} /></td>
    <td>${duration(r.duration)}</td>
  </tr>`;
}

// Suggestions for the workflow box: names containing what was typed (a hint only, so a
// failed lookup is ignored).
function WorkflowOptions({ text }) {
  const [names, setNames] = useState([]);
  useEffect(() => {
    const ctl = new AbortController();
    const t = setTimeout(() => {
      api(`/api/v1/workflows${q({ q: text.trim(), limit: 20 })}`, { signal: ctl.signal })
        .then((page) => setNames(page.items.map((w) => w.name)), () => {});
    }, 250);
    return () => { clearTimeout(t); ctl.abort(); };
  }, [text]);
  return html`<datalist id="runs-workflows">${names.map((n) => html`<option value=${n} />`)}</datalist>`;
}
