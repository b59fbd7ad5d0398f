// The workflows list: search, tags, paused filter, the last runs as marks, next fire time;
// keyset pagination (the API's cursors), so page 200 costs what page 1 does.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, q } from "../api.js";
import { subscribe } from "../live.js";
import { html, Pager, Link, Time, useLoad, ErrorBox, Empty, Spinner, canEdit, title, navigate } from "../ui.js";

const PAGE = 50;

function readFilters() {
  const p = new URLSearchParams(location.search);
  return { q: p.get("q") || "", tag: p.getAll("tag"), paused: p.get("paused") || "", sort: p.get("sort") || "name" };
}

export function WorkflowsPage() {
  const [filters, setFilters] = useState(readFilters);
  const [cursors, setCursors] = useState([null]); // cursors[i] = cursor of page i
  const [text, setText] = useState(filters.q);
  const page = cursors.length - 1;
  title("Workflows");

  const list = useLoad(
    () => api(`/api/v1/workflows${q({ limit: PAGE, cursor: cursors[page], q: filters.q, tag: filters.tag, paused: filters.paused, sort: filters.sort })}`),
    [filters, cursors],
  );

  // Keep the URL shareable, and debounce typing into the search box.
  useEffect(() => {
    const t = setTimeout(() => text !== filters.q && change({ q: text }), 250);
    return () => clearTimeout(t);
  }, [text]);
  useEffect(() => {
    const url = `/workflows${q({ q: filters.q, tag: filters.tag, paused: filters.paused, sort: filters.sort === "name" ? "" : filters.sort })}`;
    history.replaceState(null, "", url);
  }, [filters]);
  // A workflow saved, or a run of a shown one changing: refresh this page's rows (at most
  // once a second, however busy the server is).
  const shown = useRef(new Set());
  shown.current = new Set((list.data?.items || []).map((w) => w.id));
  useEffect(() => {
    let t = null;
    return subscribe("*", (e) => {
      const mine = e.type.startsWith("workflow.") || (e.type.startsWith("run.") && shown.current.has(e.workflow_id));
      if (mine && t === null) t = setTimeout(() => { t = null; list.reload(); }, 1000);
    });
  }, [list.reload]);

  const change = (patch) => { setFilters((f) => ({ ...f, ...patch })); setCursors([null]); };
  const toggleTag = (tag) => change({ tag: filters.tag.includes(tag) ? filters.tag.filter((t) => t !== tag) : [...filters.tag, tag] });
  const items = list.data?.items || [];
  const filtered = filters.q || filters.tag.length || filters.paused;

  return html`<div class="page">
    <div class="page-head"><h1>Workflows</h1>
      <div class="actions">${canEdit() ? html`<button class="primary" onClick=${() => navigate("/workflows/new")}>New workflow</button>` : null}</div>
    </div>
    <div class="toolbar">
      <input type="search" data-search placeholder="Search name or description  ( / )" value=${text} onInput=${(e) => setText(e.target.value)} aria-label="Search workflows" />
      <select aria-label="Paused" value=${filters.paused} onChange=${(e) => change({ paused: e.target.value })}>
        <option value="">Active and paused</option><option value="false">Active only</option><option value="true">Paused only</option>
      </select>
      <select aria-label="Sort" value=${filters.sort} onChange=${(e) => change({ sort: e.target.value })}>
        <option value="name">Name A–Z</option><option value="-name">Name Z–A</option><option value="-updated">Recently changed</option><option value="-created">Newest</option>
      </select>
      ${filters.tag.map((t) => html`<button type="button" class="chip on" onClick=${() => toggleTag(t)} title="Remove tag filter" aria-label=${`Remove tag filter #${t}`}>#${t} ×</button>`)}
      ${list.loading ? html`<small>Loading…</small>` : null}
    </div>
    <${ErrorBox} error=${list.error} onRetry=${list.reload} />
    ${list.data === null && list.loading ? html`<${Spinner} />`
      : items.length === 0 ? html`<${Empty} title=${filtered ? "No workflow matches these filters" : "No workflows yet"}>
          ${filtered ? html`<button class="link" onClick=${() => { setText(""); change({ q: "", tag: [], paused: "" }); }}>Clear the filters</button>`
            : canEdit() ? html`<p>Create one with <b>New workflow</b>, or from a YAML file with <code>plait apply -f flow.yaml</code>.</p>`
            : html`<p>Ask an editor to create one.</p>`}
        </${Empty}>`
      : html`<div class="table-wrap"><table class="list" data-testid="workflows">
          <thead><tr><th>Name</th><th>Tags</th><th>Last runs</th><th>Schedule</th><th>Next run</th><th>Owner</th><th>Changed</th></tr></thead>
          <tbody>${items.map((w) => html`<${Row} w=${w} onTag=${toggleTag} />`)}</tbody>
        </table></div>
        <${Pager} page=${page} next=${list.data?.next_cursor} setCursors=${setCursors} />`}
  </div>`;
}

function Row({ w, onTag }) {
  const href = `/workflows/${encodeURIComponent(w.name)}`;
  return html`<tr data-workflow=${w.name}>
    <td><${Link} href=${href}><b>${w.name}</b></${Link}>${w.paused ? html` <span class="status s-cancelled">paused</span>` : null}
      ${w.description ? html`<div class="muted" style="max-width:420px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis">${w.description}</div>` : null}</td>
    <td>${w.tags.map((t) => html`<button type="button" class="chip" onClick=${() => onTag(t)} title=${`Only #${t}`}>#${t}</button> `)}</td>
    <td><span class="marks">${[...w.last_runs].reverse().map((r) => html`<${Link} href=${`/runs/${r.id}`} class=${`mark s-${r.status}`} title=${`run ${r.id}: ${r.status}`}></${Link}>`)}</span>
      ${w.last_runs.length === 0 ? html`<small>no runs</small>` : null}</td>
    <td>${w.schedule ? html`<code>${w.schedule}</code>` : html`<small>manual</small>`}</td>
    <td>${w.paused || !w.next_fire_time ? html`<small>–</small>` : html`<${Time} iso=${w.next_fire_time} zone=${w.timezone} />`}</td>
    <td>${w.owner || "–"}</td>
    <td><${Time} iso=${w.updated_at} /></td>
  </tr>`;
}
