// The workflow editor: settings, params schema, and one card per task with a real code editor
// and a dependency picker; the graph redraws as you type. Or the whole document as YAML.
// The API validates; its errors are shown beside the field each belongs to.
import { useCallback, useMemo, useRef, useState } from "preact/hooks";
import { load } from "js-yaml";
import { api } from "../api.js";
import { html, ErrorBox, Field, fieldErrors, memo, toast, ValueInput } from "../ui.js";
import { CodeEditor } from "../editor.js";
import { Dag } from "../dag.js";
import { ParamsEditor } from "../params.js";
import { Tabs, TabPanel } from "../tabs.js";

const BODY = { python: "code", shell: "command", callable: "callable" };
const STARTER = {
  python: 'import plait\n\nprint("hello from", plait.params())\nplait.set_output("done", True)\n',
  shell: 'echo "hello from $PLAIT_TASK_KEY"',
  callable: "mypackage.module:function",
};

/** The editable draft of a spec: tags as text, params as rows (so a name can be retyped). */
export function toDraft(spec) {
  return {
    ...spec,
    tags: (spec.tags || []).join(", "),
    params: Object.entries(spec.params || {}).map(([name, s]) => ({ name, spec: s })),
    tasks: (spec.tasks || []).map((t) => ({ ...t, depends_on: [...(t.depends_on || [])] })),
  };
}

const KEEP = ["name", "description", "schedule", "timezone", "catchup", "max_active_runs", "sla_seconds", "retention_days", "triggers"];

export function fromDraft(d) {
  const spec = {};
  for (const k of KEEP) if (d[k] !== undefined && d[k] !== null && d[k] !== "") spec[k] = d[k];
  spec.tags = d.tags.split(",").map((s) => s.trim()).filter(Boolean);
  spec.params = Object.fromEntries(d.params.map((r) => [r.name, Object.fromEntries(Object.entries(r.spec).filter(([, v]) => v !== undefined && v !== ""))]));
  spec.tasks = d.tasks.map((t) => {
    const out = { key: t.key, kind: t.kind, depends_on: t.depends_on };
    out[BODY[t.kind]] = t[BODY[t.kind]] ?? "";
    for (const k of ["retries", "retry_delay", "retry_backoff", "timeout", "env", "queue"]) if (t[k] !== undefined && t[k] !== null && t[k] !== "") out[k] = t[k];
    return out;
  });
  return spec;
}

// One card per task, redrawn only when its own props change: a key typed in one task's code
// must not redraw the other cards (120 of them took longer than the gap between two keys).
// So the parent passes stable props: onChange(index, patch), onRemove(index), memoized lists.
const TaskCard = memo(({ task, index, all, onChange: change, onRemove, errors }) => {
  const onChange = (patch) => change(index, patch);
  const others = all.filter((k) => k && k !== task.key);
  const body = BODY[task.kind];
  const id = `task-${index}`;
  const num = (v) => (v === "" ? undefined : Number(v));
  return html`<section class="task-editor" data-task-index=${index} data-task-key=${task.key}>
    <header><b>Task ${index + 1}</b><span class="spacer" style="flex:1"></span>
      <button type="button" class="danger" onClick=${() => onRemove(index)}>Remove</button></header>
    <div class="row">
      <${Field} id=${`${id}-key`} name="key" label="Key" fe=${errors}>
        <input id=${`${id}-key`} aria-label="Task key" value=${task.key} placeholder="train" onInput=${(e) => onChange({ key: e.target.value })} /></${Field}>
      <${Field} id=${`${id}-kind`} name="kind" label="Kind" fe=${errors}>
        <select id=${`${id}-kind`} aria-label="Task kind" value=${task.kind} onChange=${(e) => {
          const kind = e.target.value;
          onChange({ kind, [BODY[kind]]: task[BODY[kind]] || STARTER[kind] });
        }}><option value="python">Python</option><option value="shell">Shell</option><option value="callable">Callable</option></select></${Field}>
      <${Field} id=${`${id}-retries`} name="retries" label="Retries" fe=${errors}>
        <${ValueInput} id=${`${id}-retries`} aria-label="Retries" type="number" min="0" max="100" placeholder="0" value=${task.retries} parse=${num} onValue=${(retries) => onChange({ retries })} /></${Field}>
      <${Field} id=${`${id}-timeout`} name="timeout" label="Timeout (s)" fe=${errors}>
        <${ValueInput} id=${`${id}-timeout`} aria-label="Timeout" type="number" min="0" step="any" placeholder="none" value=${task.timeout} parse=${num} onValue=${(timeout) => onChange({ timeout })} /></${Field}>
    </div>
    <${Field} id=${`${id}-${body}`} name=${body} label=${{ code: "Python code", command: "Shell command", callable: "module:function" }[body]} fe=${errors}>
      ${task.kind === "callable"
        ? html`<input id=${`${id}-${body}`} aria-label="Callable" value=${task.callable || ""} onInput=${(e) => onChange({ callable: e.target.value })} />`
        : html`<${CodeEditor} id=${`${id}-${body}`} value=${task[body] || ""} language=${task.kind === "python" ? "python" : "shell"} label=${`Code of ${task.key || "task"}`} onChange=${(text) => onChange({ [body]: text })} />`}</${Field}>
    <${Field} name="depends_on" label="Depends on" fe=${errors}>
      <div class="deps" role="group" aria-label=${`Dependencies of ${task.key}`}>
        ${others.length === 0 ? html`<small>No other tasks yet.</small>` : others.map((k) => html`<label>
          <input type="checkbox" name="depends_on" value=${k} checked=${task.depends_on.includes(k)}
            onChange=${(e) => onChange({ depends_on: e.target.checked ? [...task.depends_on, k] : task.depends_on.filter((d) => d !== k) })} />${k}</label>`)}
        ${task.depends_on.filter((d) => !others.includes(d)).map((d) => html`<label title="no such task"><input type="checkbox" checked onChange=${() => onChange({ depends_on: task.depends_on.filter((x) => x !== d) })} /><s>${d}</s></label>`)}
      </div></${Field}>
  </section>`;
});

function Settings({ draft, set, errors }) {
  const f = (name, label, input) => html`<${Field} id=${`wf-${name}`} name=${name} label=${label} fe=${errors}>${input}</${Field}>`;
  return html`<div class="card"><h2>Workflow</h2>
    <div class="row">
      ${f("name", "Name", html`<input id="wf-name" value=${draft.name} placeholder="nightly-train" onInput=${(e) => set({ name: e.target.value })} />`)}
      ${f("tags", "Tags (comma separated)", html`<input id="wf-tags" value=${draft.tags} placeholder="ml, nightly" onInput=${(e) => set({ tags: e.target.value })} />`)}
    </div>
    ${f("description", "Description", html`<input id="wf-description" value=${draft.description || ""} onInput=${(e) => set({ description: e.target.value })} />`)}
    <div class="row">
      ${f("schedule", "Schedule (cron)", html`<input id="wf-schedule" value=${draft.schedule || ""} placeholder="0 3 * * *  (empty: manual only)" onInput=${(e) => set({ schedule: e.target.value || null })} />`)}
      ${f("timezone", "Timezone", html`<input id="wf-timezone" value=${draft.timezone || "UTC"} onInput=${(e) => set({ timezone: e.target.value })} />`)}
      ${f("max_active_runs", "Max active runs", html`<${ValueInput} id="wf-max_active_runs" type="number" min="1" value=${draft.max_active_runs ?? 1} parse=${Number} onValue=${(v) => set({ max_active_runs: v })} />`)}
      ${f("sla_seconds", "SLA (s)", html`<${ValueInput} id="wf-sla_seconds" type="number" min="0" step="any" placeholder="none" value=${draft.sla_seconds} parse=${(t) => (t === "" ? null : Number(t))} onValue=${(v) => set({ sla_seconds: v })} />`)}
      ${f("retention_days", "Keep runs (days)", html`<${ValueInput} id="wf-retention_days" type="number" min="0" step="1" placeholder="server default" title="Finished runs older than this are removed; 0 keeps them for ever" value=${draft.retention_days} parse=${(t) => (t === "" ? null : Number(t))} onValue=${(v) => set({ retention_days: v })} />`)}
    </div>
    <label><input type="checkbox" checked=${!!draft.catchup} onChange=${(e) => set({ catchup: e.target.checked })} /> Catch up: run every fire time missed while paused or down</label>
  </div>`;
}

function YamlEditor({ text, setText, error }) {
  return html`<div class="card"><h2>Definition (YAML)</h2>
    <p class="muted">The whole workflow, as <code>plait apply</code> and <code>plait export</code> read and write it.</p>
    <${CodeEditor} value=${text} language="yaml" label="Workflow YAML" onChange=${setText} />
    <${ErrorBox} error=${error} />
  </div>`;
}

/** initial: a spec (or null for a new workflow); version: what If-Match sends. */
export function WorkflowEditor({ initial, version, onSaved, onCancel }) {
  const isNew = !initial;
  const [draft, setDraft] = useState(() => toDraft(initial || { name: "", tasks: [{ key: "hello", kind: "python", code: STARTER.python, depends_on: [] }] }));
  const [mode, setMode] = useState("form");
  const [yamlText, setYamlText] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (patch) => setDraft((d) => ({ ...d, ...patch }));
  const setTask = useCallback((i, patch) => setDraft((d) => {
    let tasks = d.tasks.map((t, j) => (j === i ? { ...t, ...patch } : t));
    const old = d.tasks[i].key;
    if (patch.key !== undefined && old) { // a renamed task keeps its dependents
      tasks = tasks.map((t) => (t.depends_on.includes(old) ? { ...t, depends_on: t.depends_on.map((x) => (x === old ? patch.key : x)) } : t));
    }
    return { ...d, tasks };
  }), []);
  const removeTask = useCallback((i) => setDraft((d) => {
    const gone = d.tasks[i].key;
    return { ...d, tasks: d.tasks.filter((_, j) => j !== i).map((x) => ({ ...x, depends_on: x.depends_on.filter((k) => k !== gone) })) };
  }), []);
  const errors = useMemo(() => fieldErrors(error, []), [error]);
  const taskErrors = useMemo(() => draft.tasks.map((_, i) => fieldErrors(error, ["tasks", i])), [error, draft.tasks.length]);
  const keyList = draft.tasks.map((t) => t.key);
  const keys = useMemo(() => keyList, [keyList.join("\n")]);

  // The YAML is the server's, byte for byte what `plait export` writes: the saved definition
  // while the form is untouched, else the draft as it would be exported once saved.
  const first = useRef(draft);
  const toYaml = () => (!isNew && draft === first.current
    ? api(`/api/v1/workflows/${initial.id}/export`, { text: true })
    : api("/api/v1/workflow-yaml", { method: "POST", body: fromDraft(draft), text: true }));
  const switchMode = async (next) => {
    if (next === mode) return;
    if (next === "yaml") {
      try { setYamlText(await toYaml()); setMode("yaml"); setError(null); } catch (err) { setError(Object.assign(err, { verb: "Not shown as YAML" })); }
      return;
    }
    try { setDraft(toDraft(load(yamlText) || {})); setMode("form"); setError(null); } catch (err) { setError({ title: "YAML does not parse", message: err.message }); }
  };

  const save = async () => {
    let spec;
    try { spec = mode === "yaml" ? load(yamlText) : fromDraft(draft); } catch (err) { setError({ title: "YAML does not parse", message: err.message }); return; }
    setBusy(true);
    setError(null);
    try {
      const saved = isNew
        ? await api("/api/v1/workflows", { method: "POST", body: spec })
        : await api(`/api/v1/workflows/${initial.id}`, { method: "PUT", body: spec, headers: { "If-Match": `"${version}"` } });
      toast(isNew ? `Created ${saved.name}` : `Saved version ${saved.current_version}`);
      onSaved(saved);
    } catch (err) {
      setError(err.status === 412 ? { ...err, title: "Changed by someone else", message: "This workflow was saved elsewhere since you opened it. Copy your changes, reload, and apply them again." } : err);
    } finally { setBusy(false); }
  };

  const generalErrors = error && !error.errors?.length ? error : error?.errors?.length ? { title: error.verb || "Not saved", message: `${error.errors.length} problem${error.errors.length > 1 ? "s" : ""}: see the fields marked in red.`, errors: error.errors } : null;
  return html`<div class="workflow-editor">
    <div class="toolbar">
      <${Tabs} id="editor" label="Edit as" tabs=${[["form", "Form"], ["yaml", "YAML"]]} current=${mode} onSelect=${switchMode} style="margin:0;border:none" />
      <span class="spacer" style="flex:1"></span>
      ${onCancel ? html`<button onClick=${onCancel}>Cancel</button>` : null}
      <button class="primary" onClick=${save} disabled=${busy}>${busy ? "Saving…" : isNew ? "Create workflow" : "Save"}</button>
    </div>
    <${ErrorBox} error=${generalErrors} />
    <${TabPanel} id="editor" current=${mode}>${mode === "yaml" ? html`<${YamlEditor} text=${yamlText} setText=${setYamlText} />` : html`
      <${Settings} draft=${draft} set=${set} errors=${errors} />
      <div class="card"><h2>Parameters</h2>
        <${ParamsEditor} rows=${draft.params} onChange=${(params) => set({ params })} errors=${errors} /></div>
      <div class="grid">
        <div>
          <h2>Tasks</h2>
          ${draft.tasks.map((t, i) => html`<${TaskCard} key=${i} task=${t} index=${i} all=${keys} errors=${taskErrors[i]}
              onChange=${setTask} onRemove=${removeTask} />`)}
          <button onClick=${() => set({ tasks: [...draft.tasks, { key: `task${draft.tasks.length + 1}`, kind: "python", code: STARTER.python, depends_on: [] }] })}>+ Add task</button>
        </div>
        <div><h2>Graph</h2><div style="position:sticky;top:64px"><${Dag} tasks=${draft.tasks.filter((t) => t.key)} height=${360} /></div></div>
      </div>`}</${TabPanel}>
  </div>`;
}
