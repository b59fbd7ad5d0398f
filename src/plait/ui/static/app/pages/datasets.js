// The dataset registry: the list (search, new dataset), and a dataset's page with its
// versions, an upload form (XHR, so the bytes sent show as a progress bar) and, per version,
// the runs that read or wrote it.
import { useState } from "preact/hooks";
import { api, q, freshToken, ApiError } from "../api.js";
import { html, Link, Time, useLoad, ErrorBox, Empty, Spinner, Pager, Field, fieldErrors, canEdit, title, navigate, toast } from "../ui.js";

const PAGE = 50;
const enc = encodeURIComponent;

export function size(bytes) {
  if (bytes == null) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function DatasetsPage() {
  title("Datasets");
  const [text, setText] = useState(new URLSearchParams(location.search).get("q") || "");
  const [cursors, setCursors] = useState([null]);
  const page = cursors.length - 1;
  const list = useLoad(() => api(`/api/v1/datasets${q({ limit: PAGE, cursor: cursors[page], q: text })}`), [text, cursors]);
  const items = list.data?.items || [];
  return html`<div class="page">
    <div class="page-head"><h1>Datasets</h1></div>
    ${canEdit() ? html`<${NewDataset} />` : null}
    <div class="toolbar">
      <input type="search" data-search placeholder="Search name or description  ( / )" value=${text}
        onInput=${(e) => { setText(e.target.value); setCursors([null]); }} aria-label="Search datasets" />
      ${list.loading ? html`<small>Loading…</small>` : null}
    </div>
    <${ErrorBox} error=${list.error} onRetry=${list.reload} />
    ${list.data === null && list.loading ? html`<${Spinner} />`
      : items.length === 0 ? html`<${Empty} title=${text ? "No dataset matches" : "No datasets yet"}>
          <p>Register one here, with <code>plait datasets upload NAME FILE --kind tabular</code>, or from a task with <code>plait.log_dataset()</code>.</p>
        </${Empty}>`
      : html`<div class="table-wrap"><table class="list" data-testid="datasets">
          <thead><tr><th>Name</th><th>Kind</th><th>Versions</th><th>Latest</th><th>Size</th><th>Tags</th><th>Created</th></tr></thead>
          <tbody>${items.map((d) => html`<tr data-dataset=${d.name}>
            <td><${Link} href=${`/datasets/${enc(d.name)}`}><b>${d.name}</b></${Link}>
              ${d.description ? html`<div class="muted">${d.description}</div>` : null}</td>
            <td><span class="chip">${d.kind}</span></td>
            <td>${d.versions}</td>
            <td>${d.latest ? `v${d.latest.version}` : "–"}</td>
            <td>${size(d.latest?.size)}</td>
            <td>${d.tags.map((t) => html`<span class="chip">#${t}</span> `)}</td>
            <td><${Time} iso=${d.created_at} /></td>
          </tr>`)}</tbody>
        </table></div>
        <${Pager} page=${page} next=${list.data?.next_cursor} setCursors=${setCursors} />`}
  </div>`;
}

function NewDataset() {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const fe = fieldErrors(error, []);
  const submit = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const tags = (f.get("tags") || "").split(",").map((t) => t.trim()).filter(Boolean);
    setBusy(true); setError(null);
    try {
      const made = await api("/api/v1/datasets", { method: "POST", body: { name: f.get("name").trim(), kind: f.get("kind"), description: f.get("description"), tags } });
      navigate(`/datasets/${enc(made.name)}`);
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  return html`<form class="card" onSubmit=${submit} data-testid="new-dataset"><h2>New dataset</h2>
    <div class="row" style="align-items:flex-start">
      <${Field} id="ds-name" name="name" label="Name" fe=${fe} hint="Letters, digits, - and _."><input id="ds-name" name="name" required maxlength="100" autocomplete="off" /></${Field}>
      <${Field} id="ds-kind" name="kind" label="Kind" fe=${fe}><select id="ds-kind" name="kind">
        ${["tabular", "images", "text", "audio", "video", "vector", "point-cloud", "other"].map((k) => html`<option value=${k}>${k}</option>`)}</select></${Field}>
      <${Field} id="ds-tags" name="tags" label="Tags" fe=${fe} hint="Comma-separated."><input id="ds-tags" name="tags" autocomplete="off" /></${Field}>
    </div>
    <${Field} id="ds-description" name="description" label="Description" fe=${fe}><input id="ds-description" name="description" maxlength="10000" /></${Field}>
    ${error && !error.errors?.length ? html`<${ErrorBox} error=${error} />` : null}
    <button class="primary" type="submit" disabled=${busy}>${busy ? "Creating…" : "Create dataset"}</button>
  </form>`;
}

export function DatasetPage({ name }) {
  title(name);
  const ds = useLoad(() => api(`/api/v1/datasets/${enc(name)}`), [name]);
  const [cursors, setCursors] = useState([null]);
  const page = cursors.length - 1;
  const versions = useLoad(() => api(`/api/v1/datasets/${enc(name)}/versions${q({ limit: PAGE, cursor: cursors[page] })}`), [name, cursors]);
  const [open, setOpen] = useState(null);
  const reload = () => { ds.reload(); setCursors([null]); versions.reload(); };
  if (ds.error) return html`<div class="page"><h1>${name}</h1><${ErrorBox} error=${ds.error} onRetry=${ds.reload} /></div>`;
  if (!ds.data) return html`<${Spinner} />`;
  const d = ds.data;
  const items = versions.data?.items || [];
  return html`<div class="page">
    <div class="page-head"><h1>${d.name}</h1><span class="chip">${d.kind}</span></div>
    <p class="muted"><${Link} href="/datasets">Datasets</${Link}> · ${d.versions} version${d.versions === 1 ? "" : "s"}${d.created_by ? ` · made by ${d.created_by}` : ""}
      ${d.tags.map((t) => html` <span class="chip">#${t}</span>`)}</p>
    ${d.description ? html`<p>${d.description}</p>` : null}
    ${canEdit() ? html`<${Upload} name=${d.name} onDone=${reload} />` : null}
    <h2>Versions</h2>
    <${ErrorBox} error=${versions.error} onRetry=${versions.reload} />
    ${versions.data === null ? html`<${Spinner} />`
      : items.length === 0 ? html`<${Empty} title="No versions yet"><p>Upload a file above, or register a URI through the API.</p></${Empty}>`
      : html`<div class="table-wrap"><table class="list" data-testid="versions">
          <thead><tr><th>Version</th><th>File or URI</th><th>Size</th><th>sha256</th><th>Columns</th><th>Made</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
          <tbody>${items.map((v) => html`<${VersionRow} key=${v.version} v=${v} name=${d.name} open=${open === v.version} onOpen=${() => setOpen(open === v.version ? null : v.version)} />`)}</tbody>
        </table></div>
        <${Pager} page=${page} next=${versions.data?.next_cursor} setCursors=${setCursors} />`}
  </div>`;
}

function VersionRow({ v, name, open, onOpen }) {
  const download = async () => {
    try {
      const res = await api(`/api/v1/datasets/${enc(name)}/versions/${v.version}/download`, { raw: true });
      if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => ({})));
      const url = URL.createObjectURL(await res.blob());
      const a = Object.assign(document.createElement("a"), { href: url, download: v.filename || "data" });
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (err) { toast(`${err.title || "Error"}: ${err.message}`, "bad"); }
  };
  return html`<tr data-version=${v.version}>
      <td><b>v${v.version}</b>${v.tags.map((t) => html` <span class="chip">#${t}</span>`)}</td>
      <td>${v.stored ? html`<code>${v.filename}</code>` : html`<code>${v.uri}</code>`}
        ${v.source_run_id ? html`<div class="muted">written by <${Link} href=${`/runs/${v.source_run_id}`}>run ${v.source_run_id}</${Link}></div>` : null}
        ${v.ground_truth_uri ? html`<div class="muted">ground truth <code>${v.ground_truth_uri}</code></div>` : null}</td>
      <td>${size(v.size)}</td>
      <td>${v.checksum ? html`<code title=${v.checksum}>${v.checksum.slice(0, 12)}</code>` : "–"}</td>
      <td>${v.metadata?.columns ? v.metadata.columns.join(", ") : "–"}</td>
      <td><${Time} iso=${v.created_at} />${v.created_by ? html`<div class="muted">${v.created_by}</div>` : null}</td>
      <td class="nowrap">${v.stored ? html`<button class="ghost" onClick=${download}>Download</button> ` : null}
        <button class="ghost" aria-expanded=${open ? "true" : "false"} onClick=${onOpen}>Lineage</button></td>
    </tr>
    ${open ? html`<tr><td colspan="7"><${Lineage} name=${name} version=${v.version} /></td></tr>` : null}`;
}

function Lineage({ name, version }) {
  const links = useLoad(() => api(`/api/v1/datasets/${enc(name)}/versions/${version}/lineage`), [name, version]);
  if (links.error) return html`<${ErrorBox} error=${links.error} onRetry=${links.reload} />`;
  if (!links.data) return html`<${Spinner} />`;
  if (!links.data.length) return html`<p class="muted" data-testid="lineage">No run has read or written v${version} yet.</p>`;
  return html`<ul data-testid="lineage">${links.data.map((l) => html`<li>
    <${Link} href=${`/runs/${l.run_id}`}>run ${l.run_id}</${Link}> of <b>${l.workflow}</b>, task <code>${l.task_key}</code>
    (try ${l.attempt}) <b>${l.direction}</b> it · ${l.run_status} · <${Time} iso=${l.created_at} />
  </li>`)}</ul>`;
}

/** The upload goes by XMLHttpRequest: fetch() cannot tell how much of a body was sent. */
function send(name, form, onProgress) {
  return freshToken().then((token) => new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/v1/datasets/${enc(name)}/versions`);
    xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded, e.total);
    xhr.onload = () => {
      let data = {};
      try { data = JSON.parse(xhr.responseText); } catch { data = { detail: xhr.responseText.slice(0, 300) }; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new ApiError(xhr.status, data));
    };
    xhr.onerror = () => reject(new ApiError(0, { title: "Server unreachable", detail: "The upload could not reach the server." }));
    xhr.send(form);
  }));
}

function Upload({ name, onDone }) {
  const [progress, setProgress] = useState(null);
  const [error, setError] = useState(null);
  const fe = fieldErrors(error, ["body"]);
  const submit = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    for (const key of ["checksum", "tags", "ground_truth_uri"]) if (!f.get(key)) f.delete(key);
    setError(null); setProgress({ loaded: 0, total: f.get("file").size || 1 });
    try {
      const made = await send(name, f, (loaded, total) => setProgress({ loaded, total }));
      e.target.reset();
      toast(`Version ${made.version} of ${name} uploaded.`);
      onDone();
    } catch (err) { setError(err); } finally { setProgress(null); }
  };
  const pct = progress ? Math.round((progress.loaded / progress.total) * 100) : 0;
  return html`<form class="card" onSubmit=${submit} data-testid="upload"><h2>Upload a new version</h2>
    <div class="row" style="align-items:flex-start">
      <${Field} id="up-file" name="file" label="File" fe=${fe}><input id="up-file" name="file" type="file" required /></${Field}>
      <${Field} id="up-tags" name="tags" label="Tags" fe=${fe} hint="Comma-separated."><input id="up-tags" name="tags" autocomplete="off" /></${Field}>
      <${Field} id="up-checksum" name="checksum" label="sha256 (optional)" fe=${fe} hint="Checked by the server."><input id="up-checksum" name="checksum" autocomplete="off" maxlength="71" /></${Field}>
    </div>
    <${Field} id="up-gt" name="ground_truth_uri" label="Ground-truth URI (optional)" fe=${fe}><input id="up-gt" name="ground_truth_uri" autocomplete="off" /></${Field}>
    ${progress ? html`<div class="progress" data-testid="upload-progress">
      <div class="progress-track" role="progressbar" aria-label="Upload progress" aria-valuemin="0" aria-valuemax="100" aria-valuenow=${pct}><span style=${`width:${pct}%`}></span></div>
      <small><b>${pct}%</b> · ${size(progress.loaded)} of ${size(progress.total)}</small></div>` : null}
    ${error && !Object.keys(fe).length ? html`<${ErrorBox} error=${error} />` : null}
    <button class="primary" type="submit" disabled=${!!progress}>${progress ? "Uploading…" : "Upload"}</button>
  </form>`;
}
