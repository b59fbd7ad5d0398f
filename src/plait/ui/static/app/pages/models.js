// The model registry: the list (search), and a model's page with its versions (stage badges),
// their metrics side by side (one column per version; click one to select it), and the
// selected version: stage buttons (asked before moving), lineage, signature and files.
import { useState } from "preact/hooks";
import { api, q, ApiError } from "../api.js";
import { html, Link, Time, useLoad, ErrorBox, Empty, Spinner, Pager, canEdit, title, toast, ask, number } from "../ui.js";
import { size } from "./datasets.js";
import { ExportPanel } from "../exports.js";
import { DeployDialog } from "../deploy.js";

const PAGE = 50;
const enc = encodeURIComponent;

export function StageBadge({ stage }) {
  if (!stage || stage === "none") return html`<span class="chip" data-stage="none">no stage</span>`;
  return html`<span class=${stage === "production" ? "chip on" : "chip"} data-stage=${stage}>${stage}</span>`;
}

export function ModelsPage() {
  title("Models");
  const [text, setText] = useState(new URLSearchParams(location.search).get("q") || "");
  const [cursors, setCursors] = useState([null]);
  const page = cursors.length - 1;
  const list = useLoad(() => api(`/api/v1/models${q({ limit: PAGE, cursor: cursors[page], q: text })}`), [text, cursors]);
  const items = list.data?.items || [];
  return html`<div class="page">
    <div class="page-head"><h1>Models</h1></div>
    <div class="toolbar">
      <input type="search" data-search placeholder="Search name or description  ( / )" value=${text}
        onInput=${(e) => { setText(e.target.value); setCursors([null]); }} aria-label="Search models" />
      ${list.loading ? html`<small>Loading…</small>` : null}
    </div>
    <${ErrorBox} error=${list.error} onRetry=${list.reload} />
    ${list.data === null && list.loading ? html`<${Spinner} />`
      : items.length === 0 ? html`<${Empty} title=${text ? "No model matches" : "No models yet"}>
          <p>A task registers a trained model with <code>plait.log_model(model, "name", sample=X[:5])</code>.</p>
        </${Empty}>`
      : html`<div class="table-wrap"><table class="list" data-testid="models">
          <thead><tr><th>Name</th><th>Versions</th><th>Latest</th><th>Production</th><th>Tags</th><th>Created</th></tr></thead>
          <tbody>${items.map((m) => html`<tr data-model=${m.name}>
            <td><${Link} href=${`/models/${enc(m.name)}`}><b>${m.name}</b></${Link}>
              ${m.description ? html`<div class="muted">${m.description}</div>` : null}</td>
            <td>${m.versions}</td>
            <td>${m.latest ? html`v${m.latest.version} <span class="muted">${m.latest.flavor}</span>` : "–"}</td>
            <td>${m.production ? html`<span class="chip on" data-stage="production">v${m.production}</span>` : "–"}</td>
            <td>${m.tags.map((t) => html`<span class="chip">#${t}</span> `)}</td>
            <td><${Time} iso=${m.created_at} /></td>
          </tr>`)}</tbody>
        </table></div>
        <${Pager} page=${page} next=${list.data?.next_cursor} setCursors=${setCursors} />`}
  </div>`;
}

export function ModelPage({ name }) {
  title(name);
  const model = useLoad(() => api(`/api/v1/models/${enc(name)}`), [name]);
  const [cursors, setCursors] = useState([null]);
  const page = cursors.length - 1;
  const versions = useLoad(() => api(`/api/v1/models/${enc(name)}/versions${q({ limit: PAGE, cursor: cursors[page] })}`), [name, cursors]);
  const [picked, setPicked] = useState(null);
  const reload = () => { model.reload(); versions.reload(); };
  if (model.error) return html`<div class="page"><h1>${name}</h1><${ErrorBox} error=${model.error} onRetry=${model.reload} /></div>`;
  if (!model.data) return html`<${Spinner} />`;
  const m = model.data;
  const items = versions.data?.items || [];
  const selected = picked ?? items[0]?.version ?? null;
  return html`<div class="page">
    <div class="page-head"><h1>${m.name}</h1>${m.production ? html`<span class="chip on">production: v${m.production}</span>` : null}</div>
    <p class="muted"><${Link} href="/models">Models</${Link}> · ${m.versions} version${m.versions === 1 ? "" : "s"}${m.created_by ? ` · made by ${m.created_by}` : ""}
      ${m.tags.map((t) => html` <span class="chip">#${t}</span>`)}</p>
    ${m.description ? html`<p>${m.description}</p>` : null}
    <h2>Versions</h2>
    <${ErrorBox} error=${versions.error} onRetry=${versions.reload} />
    ${versions.data === null ? html`<${Spinner} />`
      : items.length === 0 ? html`<${Empty} title="No versions yet"><p>Versions are logged by tasks with <code>plait.log_model()</code>.</p></${Empty}>`
      : html`<${Compare} items=${items} selected=${selected} onPick=${setPicked} />
        <${Pager} page=${page} next=${versions.data?.next_cursor} setCursors=${setCursors} />`}
    ${selected != null ? html`<${VersionView} key=${selected} name=${m.name} version=${selected} onChanged=${reload} />` : null}
  </div>`;
}

/** The versions as columns: stage, flavor, run, then one row per metric key. */
function Compare({ items, selected, onPick }) {
  const keys = [...new Set(items.flatMap((v) => Object.keys(v.metrics)))].sort();
  const params = [...new Set(items.flatMap((v) => Object.keys(v.params)))].sort();
  const cell = (v, content) => html`<td class=${v.version === selected ? "selected" : ""}>${content}</td>`;
  return html`<div class="table-wrap"><table class="list compare-versions" data-testid="model-versions">
    <thead><tr><th scope="col">Version</th>${items.map((v) => html`<th scope="col" class=${v.version === selected ? "selected" : ""} data-version=${v.version}>
      <button class=${v.version === selected ? "chip on" : "chip"} aria-pressed=${v.version === selected ? "true" : "false"} onClick=${() => onPick(v.version)}>v${v.version}</button></th>`)}</tr></thead>
    <tbody>
      <tr data-row="stage"><th scope="row">Stage</th>${items.map((v) => cell(v, html`<${StageBadge} stage=${v.stage} />`))}</tr>
      <tr><th scope="row">Flavor</th>${items.map((v) => cell(v, v.flavor))}</tr>
      <tr><th scope="row">Run</th>${items.map((v) => cell(v, v.run_id ? html`<${Link} href=${`/runs/${v.run_id}`}>run ${v.run_id}</${Link}>` : "–"))}</tr>
      ${keys.map((k) => html`<tr data-metric=${k}><th scope="row">${k}</th>${items.map((v) => cell(v, number(v.metrics[k])))}</tr>`)}
      ${params.map((k) => html`<tr data-param=${k}><th scope="row"><span class="muted">param</span> ${k}</th>${items.map((v) => cell(v, v.params[k] === undefined ? "–" : JSON.stringify(v.params[k])))}</tr>`)}
      <tr><th scope="row">Made</th>${items.map((v) => cell(v, html`<${Time} iso=${v.created_at} />`))}</tr>
    </tbody>
  </table></div>`;
}

const MOVES = [
  ["staging", "Promote to staging", false],
  ["production", "Promote to production", false],
  ["archived", "Archive", true],
];

function VersionView({ name, version, onChanged }) {
  const detail = useLoad(() => api(`/api/v1/models/${enc(name)}/versions/${version}`), [name, version]);
  const [busy, setBusy] = useState(false);
  const [deploying, setDeploying] = useState(false);
  if (detail.error) return html`<${ErrorBox} error=${detail.error} onRetry=${detail.reload} />`;
  if (!detail.data) return html`<${Spinner} />`;
  const v = detail.data;
  const move = async (stage, label, danger) => {
    const message = stage === "production"
      ? "The version in production now (if any) is archived."
      : stage === "archived" ? "Deployments that follow its stage stop serving it." : "";
    if (!await ask({ title: `${label}: ${name} v${version}?`, message, action: label, danger })) return;
    setBusy(true);
    try {
      await api(`/api/v1/models/${enc(name)}/versions/${version}/stage`, { method: "POST", body: { stage, comment: "" } });
      toast(`${name} v${version} is now in ${stage}.`);
      detail.reload(); onChanged();
    } catch (err) { toast(`${err.title || "Error"}: ${err.message}`, "bad"); } finally { setBusy(false); }
  };
  const lineage = v.lineage;
  return html`<section class="card" data-testid="model-version" aria-labelledby="version-title">
    <div class="page-head"><h2 id="version-title">Version ${v.version}</h2><${StageBadge} stage=${v.stage} /></div>
    ${v.description ? html`<p>${v.description}</p>` : null}
    ${canEdit() ? html`<div class="row" data-testid="stage-buttons">${MOVES.filter(([s]) => s !== v.stage).map(([stage, label, danger]) => html`
      <button class=${stage === "production" ? "primary" : danger ? "ghost" : ""} disabled=${busy} onClick=${() => move(stage, label, danger)}>${label}</button>`)}
      <button onClick=${() => setDeploying(true)}>Deploy…</button></div>` : null}
    ${deploying ? html`<${DeployDialog} model=${name} versions=${[v.version]} onClose=${() => setDeploying(false)} />` : null}
    ${v.flavor !== "onnx" ? html`<${ExportPanel} model=${name} version=${v.version} />` : null}
    <h3>Lineage</h3>
    <ul data-testid="model-lineage">
      ${lineage.run ? html`<li>Made by <${Link} href=${`/runs/${lineage.run.id}`}>run ${lineage.run.id}</${Link}> of <b>${lineage.run.workflow}</b>, task <code>${lineage.run.task_key}</code> · ${lineage.run.status}</li>`
        : html`<li class="muted">The run that made it is gone.</li>`}
      ${lineage.datasets.map((d) => html`<li>Read dataset <${Link} href=${`/datasets/${enc(d.dataset)}`}>${d.dataset} v${d.version}</${Link}></li>`)}
      ${lineage.exports.map((e) => html`<li>Exported to ${e.format} (${size(e.size)})</li>`)}
    </ul>
    ${lineage.stages.length ? html`<h3>Stage history</h3><ul data-testid="stage-history">${lineage.stages.map((s) => html`<li>
      ${s.from_stage} → <b>${s.to_stage}</b>${s.user ? ` by ${s.user}` : ""} · <${Time} iso=${s.created_at} />${s.comment ? html` · <span class="muted">${s.comment}</span>` : null}</li>`)}</ul>` : null}
    <h3>Signature</h3>
    ${v.signature.inputs?.length ? html`<p>Inputs: ${v.signature.inputs.map((c) => html`<code>${c.name}</code> <span class="muted">${c.type}</span> `)}</p>` : html`<p class="muted">No signature: log the model with a <code>sample</code>.</p>`}
    ${v.signature.outputs?.length ? html`<p>Outputs: ${v.signature.outputs.map((c) => html`<code>${c.name}</code> <span class="muted">${c.type} [${c.shape.join(", ")}]</span> `)}</p>` : null}
    <h3>Files</h3>
    <div class="table-wrap"><table class="list" data-testid="model-files">
      <thead><tr><th>File</th><th>Size</th><th>sha256</th><th><span class="visually-hidden">Download</span></th></tr></thead>
      <tbody>${v.files.map((f) => html`<tr data-file=${f.name}><td><code>${f.name}</code></td><td>${size(f.size)}</td>
        <td><code title=${f.sha256}>${f.sha256.slice(0, 12)}</code></td>
        <td><button class="ghost" aria-label=${`Download ${f.name}`} onClick=${() => download(name, version, f.name)}>Download</button></td></tr>`)}</tbody>
    </table></div>
  </section>`;
}

async function download(name, version, file) {
  try {
    const res = await api(`/api/v1/models/${enc(name)}/versions/${version}/files/${file.split("/").map(enc).join("/")}`, { raw: true });
    if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => ({})));
    const url = URL.createObjectURL(await res.blob());
    const a = Object.assign(document.createElement("a"), { href: url, download: file.split("/").pop() });
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  } catch (err) { toast(`${err.title || "Error"}: ${err.message}`, "bad"); }
}
