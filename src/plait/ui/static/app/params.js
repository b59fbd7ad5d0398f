// Run parameters: the trigger form generated from a workflow's params schema (with a JSON
// fallback), and the editor of the schema itself.
import { useState } from "preact/hooks";
import { html, Field, FieldError, ValueInput } from "./ui.js";

export const TYPES = ["string", "integer", "number", "boolean", "array", "object"];

/** The starting values: each param's default. */
export function defaults(schema) {
  const out = {};
  for (const [name, p] of Object.entries(schema || {})) if (p.default !== undefined && p.default !== null) out[name] = p.default;
  return out;
}

function parseAs(type, text) {
  if (type === "integer") return /^-?\d+$/.test(text.trim()) ? Number(text) : text;
  if (type === "number") return text.trim() !== "" && !isNaN(Number(text)) ? Number(text) : text;
  if (type === "array" || type === "object") { try { return JSON.parse(text); } catch { return text; } }
  return text;
}

function Input({ name, spec, value, onChange }) {
  const id = `param-${name}`;
  if (spec.enum) {
    return html`<select id=${id} name=${name} value=${JSON.stringify(value)} onChange=${(e) => onChange(JSON.parse(e.target.value))}>
      ${value === undefined ? html`<option value="null">–</option>` : null}
      ${spec.enum.map((opt) => html`<option value=${JSON.stringify(opt)}>${String(opt)}</option>`)}
    </select>`;
  }
  if (spec.type === "boolean") {
    return html`<label><input id=${id} name=${name} type="checkbox" checked=${!!value} onChange=${(e) => onChange(e.target.checked)} /> ${spec.description || name}</label>`;
  }
  const parse = (text) => (text === "" ? undefined : parseAs(spec.type, text));
  if (spec.type === "array" || spec.type === "object") {
    return html`<${ValueInput} id=${id} name=${name} class="mono" placeholder=${spec.type === "array" ? "[1, 2]" : '{"k": "v"}'}
      value=${value} parse=${parse} onValue=${onChange} />`;
  }
  const numeric = spec.type === "integer" || spec.type === "number";
  return html`<${ValueInput} id=${id} name=${name} type=${numeric ? "number" : "text"} step=${spec.type === "integer" ? 1 : "any"}
    min=${spec.minimum} max=${spec.maximum} value=${value} format=${(v) => (v === undefined || v === null ? "" : String(v))}
    parse=${parse} onValue=${onChange} />`;
}

/** The form for `schema`; `errors` are the API's field errors keyed "params.<name>". */
export function ParamsForm({ schema, value, onChange, errors = {} }) {
  const [raw, setRaw] = useState(false);
  const [text, setText] = useState("");
  const [jsonError, setJsonError] = useState(null);
  const names = Object.keys(schema || {});
  const toRaw = () => { setText(JSON.stringify(value, null, 2)); setJsonError(null); setRaw(true); };
  const fromRaw = (t) => {
    setText(t);
    try {
      const parsed = JSON.parse(t || "{}");
      if (typeof parsed !== "object" || Array.isArray(parsed) || parsed === null) throw new Error("params must be a JSON object");
      setJsonError(null);
      onChange(parsed);
    } catch (err) { setJsonError(err.message); }
  };
  return html`<div class="params-form">
    <div class="toolbar"><span class="label">Parameters</span><span class="spacer"></span>
      <button type="button" class="link" onClick=${() => (raw ? setRaw(false) : toRaw())}>${raw ? "Use the form" : "Edit as JSON"}</button></div>
    ${raw ? html`<div class="field"><textarea aria-label="Params as JSON" value=${text} onInput=${(e) => fromRaw(e.target.value)}></textarea>
        <${FieldError} messages=${jsonError ? [jsonError] : errors["params"]} /></div>`
      : names.length === 0 ? html`<p class="muted">This workflow takes no parameters.</p>`
      : names.map((name) => {
          const spec = schema[name];
          const label = html`${name}${spec.required ? " *" : ""} <small>${spec.type}</small>`;
          return html`<${Field} id=${`param-${name}`} name=${`params.${name}`} label=${label} fe=${errors}
              hint=${spec.type !== "boolean" ? spec.description : null}>
            <${Input} name=${name} spec=${spec} value=${value[name]} onChange=${(v) => {
              const next = { ...value };
              if (v === undefined) delete next[name]; else next[name] = v;
              onChange(next);
            }} /></${Field}>`;
        })}
    ${!raw ? html`<${FieldError} messages=${errors["params"]} />` : null}
  </div>`;
}

// --- the schema editor: one row per param ---
function parseLoose(text) { try { return JSON.parse(text); } catch { return text; } }
const orNone = (parse) => (text) => (text === "" ? undefined : parse(text));

/** rows: [{name, spec}] (an array, so a name can be renamed while typed). */
export function ParamsEditor({ rows, onChange, errors = {}, readOnly }) {
  const set = (i, patch) => onChange(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const setSpec = (i, patch) => set(i, { spec: { ...rows[i].spec, ...patch } });
  return html`<div class="params-editor">
    ${rows.length === 0 ? html`<p class="muted">No parameters. Runs can still be started; add one to let people set values when they trigger.</p>` : html`
    <table class="params-table" style="width:100%">
      <thead><tr><th>Name</th><th>Type</th><th>Default</th><th>Required</th><th>Choices (JSON list)</th><th>Min</th><th>Max</th><th>Description</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${rows.map((r, i) => {
        const e = (f) => errors[`params.${r.name}${f ? "." + f : ""}`];
        return html`<tr data-param=${i}>
          <td><input aria-label="Param name" value=${r.name} disabled=${readOnly} onInput=${(ev) => set(i, { name: ev.target.value })} /><${FieldError} messages=${e("")} /></td>
          <td><select aria-label="Param type" value=${r.spec.type || "string"} disabled=${readOnly} onChange=${(ev) => setSpec(i, { type: ev.target.value })}>${TYPES.map((t) => html`<option>${t}</option>`)}</select><${FieldError} messages=${e("type")} /></td>
          <td><${ValueInput} aria-label="Default" value=${r.spec.default} disabled=${readOnly} parse=${orNone(r.spec.type === "string" ? String : parseLoose)} onValue=${(v) => setSpec(i, { default: v })} /><${FieldError} messages=${e("default")} /></td>
          <td style="text-align:center"><input type="checkbox" aria-label="Required" checked=${!!r.spec.required} disabled=${readOnly} onChange=${(ev) => setSpec(i, { required: ev.target.checked })} /></td>
          <td><${ValueInput} aria-label="Choices" value=${r.spec.enum} placeholder='["a", "b"]' disabled=${readOnly} parse=${orNone(parseLoose)} onValue=${(v) => setSpec(i, { enum: v })} /><${FieldError} messages=${e("enum")} /></td>
          <td><${ValueInput} aria-label="Minimum" type="number" step="any" value=${r.spec.minimum} disabled=${readOnly} parse=${orNone(Number)} onValue=${(v) => setSpec(i, { minimum: v })} /><${FieldError} messages=${e("minimum")} /></td>
          <td><${ValueInput} aria-label="Maximum" type="number" step="any" value=${r.spec.maximum} disabled=${readOnly} parse=${orNone(Number)} onValue=${(v) => setSpec(i, { maximum: v })} /><${FieldError} messages=${e("maximum")} /></td>
          <td><input aria-label="Description" value=${r.spec.description || ""} disabled=${readOnly} onInput=${(ev) => setSpec(i, { description: ev.target.value })} /></td>
          <td>${readOnly ? null : html`<button type="button" class="icon" aria-label="Remove param" onClick=${() => onChange(rows.filter((_, j) => j !== i))}>×</button>`}</td>
        </tr>`;
      })}</tbody>
    </table>`}
    ${readOnly ? null : html`<button type="button" onClick=${() => onChange([...rows, { name: "", spec: { type: "string" } }])}>+ Add parameter</button>`}
  </div>`;
}
