// Templates in dialogs: "Use template" (a workflow from a template, its params form
// generated from the template's schema) and "Save as template" (from a workflow's page).
import { useState } from "preact/hooks";
import { api } from "./api.js";
import { html, Modal, ErrorBox, Field, fieldErrors, navigate, toast } from "./ui.js";
import { ParamsForm, defaults } from "./params.js";

const enc = encodeURIComponent;

/** A new workflow from template `t`: a name and the template's params, then its page. */
export function UseTemplateDialog({ t, onClose }) {
  const [name, setName] = useState("");
  const [value, setValue] = useState(() => defaults(t.params));
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    try {
      const wf = await api(`/api/v1/templates/${enc(t.id)}/instantiate`, { method: "POST", body: { name, params: value } });
      toast(`Created ${wf.name} from ${t.name}`);
      onClose();
      navigate(`/workflows/${enc(wf.name)}`);
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  const errors = fieldErrors(error, []);
  return html`<${Modal} title=${`Use ${t.name}`} onClose=${onClose}>
    <form onSubmit=${submit} data-testid="use-template" novalidate>
      <p class="muted">A new workflow with this template's tasks; the values below become its parameters' defaults.</p>
      <${Field} id="template-workflow-name" name="name" label="Workflow name" fe=${errors}>
        <input id="template-workflow-name" value=${name} onInput=${(e) => setName(e.target.value)} autofocus required /></${Field}>
      <${ParamsForm} schema=${t.params} value=${value} onChange=${setValue} errors=${errors} />
      ${error && !error.errors?.length ? html`<${ErrorBox} error=${error} />` : null}
      <footer><button type="button" onClick=${onClose}>Cancel</button>
        <button class="primary" type="submit" disabled=${busy}>${busy ? "Creating…" : "Create workflow"}</button></footer>
    </form>
  </${Modal}>`;
}

export const CATEGORIES = ["ml_training", "data_pipeline", "evaluation", "inference", "other"];

/** Save workflow `w`'s current definition as a template. */
export function SaveTemplateDialog({ w, onClose }) {
  const [form, setForm] = useState({ name: `${w.name}-template`, description: w.description, category: "other", public: true });
  const [error, setError] = useState(null);
  const set = (patch) => setForm((f) => ({ ...f, ...patch }));
  const submit = async (e) => {
    e.preventDefault();
    try {
      const t = await api(`/api/v1/workflows/${w.id}/save-as-template`, { method: "POST", body: form });
      toast(`Saved as template ${t.name}`);
      onClose();
      navigate(`/templates?q=${enc(t.name)}`);
    } catch (err) { setError(err); }
  };
  const errors = fieldErrors(error, []);
  return html`<${Modal} title=${`Save ${w.name} as a template`} onClose=${onClose}>
    <form onSubmit=${submit} data-testid="save-template" novalidate>
      <${Field} id="template-name" name="name" label="Template name" fe=${errors}>
        <input id="template-name" value=${form.name} onInput=${(e) => set({ name: e.target.value })} autofocus /></${Field}>
      <${Field} id="template-description" name="description" label="Description" fe=${errors}>
        <textarea id="template-description" value=${form.description} onInput=${(e) => set({ description: e.target.value })}></textarea></${Field}>
      <${Field} id="template-category" name="category" label="Category" fe=${errors}>
        <select id="template-category" value=${form.category} onChange=${(e) => set({ category: e.target.value })}>
          ${CATEGORIES.map((c) => html`<option value=${c}>${c}</option>`)}</select></${Field}>
      <div class="field"><label><input type="checkbox" checked=${form.public} onChange=${(e) => set({ public: e.target.checked })} /> Public: everyone sees it (else only you and admins)</label></div>
      ${error && !error.errors?.length ? html`<${ErrorBox} error=${error} />` : null}
      <footer><button type="button" onClick=${onClose}>Cancel</button><button class="primary" type="submit">Save template</button></footer>
    </form>
  </${Modal}>`;
}
