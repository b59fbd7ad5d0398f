// The "Deploy" dialog: serve a model's version (fixed) or the version in a stage, under a
// name. A component so the model page can mount it with its model (and versions) given; the
// deployments list mounts it with a model picker.
import { useState } from "preact/hooks";
import { api } from "./api.js";
import { html, Modal, Field, fieldErrors, ErrorBox, navigate, useLoad } from "./ui.js";

const enc = encodeURIComponent;

/** `model`: its name, when the caller knows it (the model page); `versions`: numbers to offer. */
export function DeployDialog({ model, versions, onClose }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [follow, setFollow] = useState("version");
  // The registry lists models; without it (or when it fails) the name is typed.
  const models = useLoad(() => (model ? Promise.resolve(null) : api("/api/v1/models?limit=200").catch(() => null)), [model]);
  const fe = fieldErrors(error, []);
  const submit = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const body = { name: f.get("name").trim(), model: model || f.get("model").trim() };
    if (follow === "version") body.version = Number(f.get("version"));
    else body.stage = f.get("stage");
    setBusy(true); setError(null);
    try {
      const made = await api("/api/v1/deployments", { method: "POST", body });
      onClose();
      navigate(`/deployments/${enc(made.name)}`);
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  const listed = models.data?.items || (Array.isArray(models.data) ? models.data : null);
  return html`<${Modal} title=${model ? `Deploy ${model}` : "Deploy a model"} onClose=${onClose}>
    <form onSubmit=${submit} data-testid="deploy-form">
      <${Field} id="dep-name" name="name" label="Deployment name" fe=${fe} hint="Letters, digits, - and _; the URL it answers on.">
        <input id="dep-name" name="name" required maxlength="100" autocomplete="off" autofocus /></${Field}>
      ${model ? null : html`<${Field} id="dep-model" name="model" label="Model" fe=${fe}>
        ${listed ? html`<select id="dep-model" name="model" required>${listed.map((m) => html`<option value=${m.name}>${m.name}</option>`)}</select>`
          : html`<input id="dep-model" name="model" required maxlength="100" autocomplete="off" />`}</${Field}>`}
      <fieldset class="row"><legend>Serve</legend>
        <label><input type="radio" name="follow" value="version" checked=${follow === "version"} onChange=${() => setFollow("version")} /> a fixed version</label>
        <label><input type="radio" name="follow" value="stage" checked=${follow === "stage"} onChange=${() => setFollow("stage")} /> the version in a stage</label>
      </fieldset>
      ${follow === "version"
        ? html`<${Field} id="dep-version" name="version" label="Version" fe=${fe}>
            ${versions?.length ? html`<select id="dep-version" name="version">${versions.map((v) => html`<option value=${v}>v${v}</option>`)}</select>`
              : html`<input id="dep-version" name="version" type="number" min="1" required value="1" />`}</${Field}>`
        : html`<${Field} id="dep-stage" name="stage" label="Stage" fe=${fe} hint="Moves when another version is promoted to it.">
            <select id="dep-stage" name="stage"><option value="production">production</option><option value="staging">staging</option></select></${Field}>`}
      ${error && !error.errors?.length ? html`<${ErrorBox} error=${error} />` : null}
      <div class="row"><button class="primary" type="submit" disabled=${busy}>${busy ? "Deploying…" : "Deploy"}</button>
        <button type="button" class="ghost" onClick=${onClose}>Cancel</button></div>
    </form>
  </${Modal}>`;
}
