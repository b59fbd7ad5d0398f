// Deployments: the list (status badges, what each serves, a Deploy dialog), and a
// deployment's page: status, versions, traffic refreshed every 2 s, and a "Try it" form made
// from the signature (one field per input, the API's field errors beside each).
import { useState } from "preact/hooks";
import { api } from "../api.js";
import { html, Link, Time, useLoad, useInterval, ErrorBox, Empty, Spinner, Status, Field, fieldErrors, canEdit, title, navigate, ask, toast } from "../ui.js";
import { DeployDialog } from "../deploy.js";

const enc = encodeURIComponent;
const ms = (v) => (v == null ? "–" : `${v.toFixed(2)} ms`);
const serves = (d) => (d.stage ? `stage ${d.stage}` : `v${d.version}`);

export function DeploymentsPage() {
  title("Deployments");
  const list = useLoad(() => api("/api/v1/deployments"), []);
  useInterval(list.reload, 2000);
  const [deploying, setDeploying] = useState(false);
  const items = list.data || [];
  return html`<div class="page">
    <div class="page-head"><h1>Deployments</h1>
      ${canEdit() ? html`<button class="primary" onClick=${() => setDeploying(true)}>Deploy a model</button>` : null}</div>
    ${deploying ? html`<${DeployDialog} onClose=${() => setDeploying(false)} />` : null}
    <${ErrorBox} error=${list.error} onRetry=${list.reload} />
    ${list.data === null ? html`<${Spinner} />`
      : items.length === 0 ? html`<${Empty} title="No deployments yet">
          <p>Deploy a registered model here, from its page, or with <code>plait deployments create NAME MODEL --version 1</code>.</p></${Empty}>`
      : html`<div class="table-wrap"><table class="list" data-testid="deployments">
          <thead><tr><th>Name</th><th>Status</th><th>Model</th><th>Follows</th><th>Serving</th><th>Requests</th><th>p50</th><th>Updated</th></tr></thead>
          <tbody>${items.map((d) => html`<tr data-deployment=${d.name}>
            <td><${Link} href=${`/deployments/${enc(d.name)}`}><b>${d.name}</b></${Link}></td>
            <td><${Status} status=${d.status} /></td>
            <td>${d.model}</td>
            <td>${serves(d)}</td>
            <td>${d.serving_version ? `v${d.serving_version}` : "–"}</td>
            <td>${d.traffic?.requests ?? "–"}</td>
            <td>${ms(d.traffic?.p50_ms)}</td>
            <td><${Time} iso=${d.updated_at} /></td>
          </tr>`)}</tbody>
        </table></div>`}
  </div>`;
}

export function DeploymentPage({ name }) {
  title(name);
  const dep = useLoad(() => api(`/api/v1/deployments/${enc(name)}`), [name]);
  useInterval(dep.reload, 2000);
  if (dep.error && !dep.data) return html`<div class="page"><h1>${name}</h1><${ErrorBox} error=${dep.error} onRetry=${dep.reload} /></div>`;
  if (!dep.data) return html`<${Spinner} />`;
  const d = dep.data;
  const t = d.traffic;
  const remove = async () => {
    if (!(await ask({ title: `Delete deployment ${d.name}?`, message: "It stops serving; requests in flight are answered first.", action: "Delete", danger: true }))) return;
    try { await api(`/api/v1/deployments/${enc(d.name)}`, { method: "DELETE" }); toast(`Deleted ${d.name}`); navigate("/deployments"); }
    catch (err) { toast(err.message, "bad"); }
  };
  return html`<div class="page">
    <div class="page-head"><h1>${d.name}</h1><${Status} status=${d.status} />
      ${canEdit() ? html`<div class="spacer"></div><button class="ghost" onClick=${remove}>Delete</button>` : null}</div>
    <p class="muted"><${Link} href="/deployments">Deployments</${Link}> · model <b>${d.model}</b> · follows ${serves(d)}
      · serving ${d.serving_version ? html`<b data-testid="serving-version">v${d.serving_version}</b>` : "nothing yet"}${d.serving_format ? ` (${d.serving_format})` : ""}</p>
    ${d.error ? html`<div class="error-box" role="alert"><strong>${d.status === "failed" ? "The last load failed" : "Not serving"}</strong> ${d.error}</div>` : null}
    <section class="card" aria-label="Traffic" data-testid="traffic"><h2>Traffic</h2>
      ${t ? html`<dl class="row">
          <div><dt>Requests</dt><dd data-testid="requests">${t.requests}</dd></div>
          <div><dt>Rows</dt><dd>${t.rows}</dd></div>
          <div><dt>Errors</dt><dd>${t.errors}</dd></div>
          <div><dt>p50</dt><dd>${ms(t.p50_ms)}</dd></div>
          <div><dt>p99</dt><dd>${ms(t.p99_ms)}</dd></div>
          <div><dt>Since</dt><dd><${Time} iso=${t.since} /></dd></div></dl>
          <small class="muted">Latency over the last ${Math.round(t.window_seconds / 60)} minutes, counted by this server process.</small>`
        : html`<p class="muted">No traffic counted here yet.</p>`}
    </section>
    ${d.signature?.inputs?.length ? html`<${TryIt} name=${d.name} signature=${d.signature} serving=${d.status === "serving" || !!d.serving_version} onDone=${dep.reload} />` : null}
  </div>`;
}

const NUMERIC = new Set(["double", "float", "long", "int"]);

/** A value typed in a field, as the API expects it: numbers as numbers when they parse (and
 *  as the text otherwise, for the API to name the problem), booleans as booleans. */
function parse(type, text) {
  const s = text.trim();
  if (NUMERIC.has(type)) return s !== "" && Number.isFinite(Number(s)) ? Number(s) : text;
  if (type === "bool") return s === "true" ? true : s === "false" ? false : text;
  return text;
}

function TryIt({ name, signature, serving, onDone }) {
  const first = signature.sample?.[0] || {};
  const [values, setValues] = useState(() => Object.fromEntries(signature.inputs.map((i) => [i.name, first[i.name] == null ? "" : String(first[i.name])])));
  const [answer, setAnswer] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const fe = fieldErrors(error, ["rows", 0]);
  const submit = async (e) => {
    e.preventDefault();
    const row = Object.fromEntries(signature.inputs.map((i) => [i.name, parse(i.type, values[i.name])]));
    setBusy(true); setError(null); setAnswer(null);
    try {
      setAnswer(await api(`/api/v1/deployments/${enc(name)}/predict`, { method: "POST", body: { rows: [row] } }));
      onDone();
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  return html`<form class="card try-it" onSubmit=${submit} data-testid="try-it" aria-label="Try it"><h2>Try it</h2>
    <div class="row">${signature.inputs.map((i) => html`<${Field} id=${`try-${i.name}`} name=${i.name} label=${i.name} fe=${fe} hint=${i.type}>
      <input id=${`try-${i.name}`} name=${i.name} autocomplete="off" inputmode=${NUMERIC.has(i.type) ? "decimal" : "text"}
        value=${values[i.name]} onInput=${(e) => setValues((v) => ({ ...v, [i.name]: e.target.value }))} /></${Field}>`)}</div>
    ${error && !Object.keys(fe).length ? html`<${ErrorBox} error=${error} />` : null}
    <button class="primary" type="submit" disabled=${busy || !serving}>${busy ? "Predicting…" : "Predict"}</button>
    ${answer ? html`<p>Prediction (v${answer.version}, ${answer.latency_ms.toFixed(2)} ms in the server):
      <output class="predictions" data-testid="prediction">${JSON.stringify(answer.predictions[0])}</output></p>` : null}
  </form>`;
}
