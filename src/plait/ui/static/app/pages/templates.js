// The template gallery: cards by category, a category filter, search; "Use template" makes a
// workflow from one through a form generated from its params schema.
import { useEffect, useState } from "preact/hooks";
import { api, q, getSession } from "../api.js";
import { subscribe } from "../live.js";
import { html, useLoad, ErrorBox, Empty, Spinner, Pager, canEdit, isAdmin, title, toast, ask } from "../ui.js";
import { UseTemplateDialog } from "../templates.js";

const PAGE = 100;

function readFilters() {
  const p = new URLSearchParams(location.search);
  return { q: p.get("q") || "", category: p.get("category") || "" };
}

const label = (category) => category.replace(/_/g, " ");

export function TemplatesPage() {
  const [filters, setFilters] = useState(readFilters);
  const [text, setText] = useState(filters.q);
  const [cursors, setCursors] = useState([null]);
  const [using, setUsing] = useState(null);
  const page = cursors.length - 1;
  title("Templates");
  const list = useLoad(() => api(`/api/v1/templates${q({ ...filters, limit: PAGE, cursor: cursors[page] })}`), [filters, cursors]);

  useEffect(() => {
    const t = setTimeout(() => text !== filters.q && change({ q: text }), 250);
    return () => clearTimeout(t);
  }, [text]);
  useEffect(() => { history.replaceState(null, "", `/templates${q(filters)}`); }, [filters]);
  // A template saved or deleted elsewhere: this page follows.
  useEffect(() => subscribe("*", (e) => e.type.startsWith("template.") && list.reload()), [list.reload]);
  const change = (patch) => { setFilters((f) => ({ ...f, ...patch })); setCursors([null]); };

  const items = list.data?.items || [];
  const groups = [...new Set(items.map((t) => t.category))].sort().map((c) => [c, items.filter((t) => t.category === c)]);
  const remove = async (t) => {
    if (!await ask({ title: `Delete template ${t.name}?`, message: "Workflows made from it stay as they are.", action: "Delete", danger: true })) return;
    try { await api(`/api/v1/templates/${t.id}`, { method: "DELETE" }); toast(`Deleted template ${t.name}`); list.reload(); }
    catch (err) { toast(err.message, "bad"); }
  };

  return html`<div class="page">
    <div class="page-head"><h1>Templates</h1></div>
    <div class="toolbar">
      <input type="search" data-search placeholder="Search templates  ( / )" value=${text} onInput=${(e) => setText(e.target.value)} aria-label="Search templates" />
      <div role="group" aria-label="Category" class="chips">
        <button type="button" class=${filters.category ? "chip" : "chip on"} aria-pressed=${!filters.category} onClick=${() => change({ category: "" })}>All</button>
        ${(list.data?.categories || []).map((c) => html` <button type="button" class=${filters.category === c ? "chip on" : "chip"}
          aria-pressed=${filters.category === c} onClick=${() => change({ category: filters.category === c ? "" : c })}>${label(c)}</button>`)}
      </div>
      ${list.loading ? html`<small>Loading…</small>` : null}
    </div>
    <${ErrorBox} error=${list.error} onRetry=${list.reload} />
    ${list.data === null && list.loading ? html`<${Spinner} />`
      : items.length === 0 ? html`<${Empty} title="No template matches"><button class="link" onClick=${() => { setText(""); change({ q: "", category: "" }); }}>Clear the filters</button></${Empty}>`
      : groups.map(([category, group]) => html`<section class="template-group" data-category=${category} aria-labelledby=${`cat-${category}`}>
          <h2 id=${`cat-${category}`}>${label(category)}</h2>
          <div class="template-cards">${group.map((t) => html`<${Card} t=${t} onUse=${() => setUsing(t)} onDelete=${() => remove(t)} />`)}</div>
        </section>`)}
    ${page > 0 || list.data?.next_cursor ? html`<${Pager} page=${page} next=${list.data?.next_cursor} setCursors=${setCursors} />` : null}
    ${using ? html`<${UseTemplateDialog} t=${using} onClose=${() => setUsing(null)} />` : null}
  </div>`;
}

function Card({ t, onUse, onDelete }) {
  const params = Object.keys(t.params);
  const mine = !t.builtin && canEdit() && (isAdmin() || t.owner_id === getSession()?.user?.id);
  return html`<article class="card template-card" data-template=${t.name} aria-label=${t.name}>
    <h3>${t.name} ${t.builtin ? html`<span class="chip">built-in</span>` : null}${t.public ? null : html` <span class="chip">private</span>`}</h3>
    <p>${t.description}</p>
    <dl class="kv">
      <dt>Tasks</dt><dd>${t.tasks}</dd>
      <dt>Params</dt><dd>${params.length ? params.map((p) => html`<code>${p}</code> `) : "none"}</dd>
      <dt>Author</dt><dd>${t.author}</dd>
      <dt>Used</dt><dd data-testid="usage">${t.usage_count === 1 ? "once" : `${t.usage_count} times`}</dd>
    </dl>
    <footer>${canEdit() ? html`<button class="primary" onClick=${onUse} aria-label=${`Use template ${t.name}`}>Use template</button>` : null}
      ${mine ? html`<button class="danger" onClick=${onDelete} aria-label=${`Delete template ${t.name}`}>Delete</button>` : null}</footer>
  </article>`;
}
