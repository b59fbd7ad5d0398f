// A model version's export to ONNX: the "Export to ONNX" button, progress while the server
// converts (the request waits for it), the result (how far the ONNX model's outputs are from
// the original's on the version's sample, with downloads of model.onnx and the package), and
// why it failed when it did. Mounted by the model version page: <ExportPanel model version />.
import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "./api.js";
import { html, Spinner, canEdit, number, toast, Time } from "./ui.js";

const enc = encodeURIComponent;
const base = (model, version) => `/api/v1/models/${enc(model)}/versions/${version}`;

async function download(path, filename) {
  try {
    const res = await api(path, { raw: true });
    if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => ({})));
    const url = URL.createObjectURL(await res.blob());
    Object.assign(document.createElement("a"), { href: url, download: filename }).click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  } catch (err) { toast(`${err.title || "Error"}: ${err.message}`, "bad"); }
}

export function ExportPanel({ model, version }) {
  const [done, setDone] = useState(null);      // the ONNX export, when there is one
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  useEffect(() => {
    let live = true;
    api(`${base(model, version)}/exports`)
      .then((list) => { if (live) setDone(list.find((e) => e.format === "onnx") || null); })
      .catch((err) => { if (live) setError(err); });
    return () => { live = false; };
  }, [model, version]);

  const convert = async () => {
    setBusy(true); setError(null);
    try {
      setDone(await api(`${base(model, version)}/export`, { method: "POST", body: { format: "onnx", replace: !!done } }));
    } catch (err) { setError(err); } finally { setBusy(false); }
  };

  return html`<section class="card" aria-labelledby="export-title" data-testid="export-panel">
    <h2 id="export-title">ONNX export</h2>
    ${done ? html`<${Result} e=${done} model=${model} version=${version} />`
           : busy || error ? null : html`<p class="muted">Not exported yet.</p>`}
    ${busy ? html`<p role="status" class="export-progress"><${Spinner} /> Converting to ONNX and checking it against the original model…</p>` : null}
    ${error ? html`<${Failure} error=${error} />` : null}
    ${canEdit() ? html`<button class="primary" onClick=${convert} disabled=${busy}>
        ${busy ? "Converting…" : done ? "Export again" : "Export to ONNX"}</button>` : null}
  </section>`;
}

function Result({ e, model, version }) {
  return html`<div data-testid="export-result">
    <p role=${e.within_tolerance ? null : "alert"}>${e.message}</p>
    <dl class="kv">
      <dt>Largest difference</dt><dd data-testid="max-abs-diff">${e.max_abs_diff == null ? "–" : number(e.max_abs_diff)}
        ${e.within_tolerance ? " (within tolerance)" : html` <strong>(above the tolerance ${number(e.meta.tolerance)})</strong>`}</dd>
      <dt>Opset</dt><dd>${e.meta.opset ?? "–"}</dd>
      <dt>Input</dt><dd><code>${e.meta.input}</code>: ${(e.meta.columns || []).join(", ")}</dd>
      <dt>Size</dt><dd>${e.size} bytes, sha256 <code title=${e.sha256}>${e.sha256.slice(0, 12)}</code></dd>
      <dt>Exported</dt><dd><${Time} iso=${e.created_at} />${e.created_by ? ` by ${e.created_by}` : ""}</dd>
    </dl>
    <p>
      <button class="ghost" onClick=${() => download(e.download, `${model}-v${version}.onnx`)}>Download model.onnx</button>
      <button class="ghost" onClick=${() => download(e.package, `${model}-v${version}.zip`)}>Download package</button>
    </p>
  </div>`;
}

function Failure({ error }) {
  const supported = error.problem?.supported;
  return html`<div class="error-box" role="alert" data-testid="export-error">
    <strong>${error.status === 422 ? "Not exported" : error.title || "Error"}</strong> ${error.message}
    ${supported?.length ? html`<details><summary>Model families skl2onnx converts (${supported.length})</summary>
      <p class="muted">${supported.join(", ")}</p></details>` : null}
  </div>`;
}
