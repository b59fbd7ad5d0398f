// One run, live: the graph and the timeline follow the run's events over the WebSocket (no
// reload), the log pane streams the selected task, metrics chart as they are logged.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, freshToken } from "../api.js";
import { subscribe } from "../live.js";
import { html, FINISHED, Link, Time, Status, ErrorBox, Spinner, canEdit, title, navigate, toast, duration, useInterval, useLoad, useThrottled, memo, stamp } from "../ui.js";
import { Dag } from "../dag.js";
import { Gantt } from "../gantt.js";
import { Metric } from "../chart.js";
import { Attempts } from "../attempts.js";
import { Progress, RunProgress, applyProgress } from "../progress.js";
import { useFollow } from "../follow.js";

const enc = encodeURIComponent;

/** Apply one task event to the run snapshot (returns a new run object). */
function applyTask(run, e) {
  const { task_key: key, attempt: number, status, error } = e.data;
  const tasks = run.tasks.slice();
  let i = tasks.findIndex((t) => t.key === key);
  if (i < 0) { tasks.push({ key, kind: "", depends_on: [], status, attempts: [] }); i = tasks.length - 1; }
  const task = { ...tasks[i], attempts: tasks[i].attempts.slice() };
  let j = task.attempts.findIndex((a) => a.attempt === number);
  if (j < 0) { task.attempts.push({ attempt: number, status, outputs: {}, error: null }); j = task.attempts.length - 1; }
  const a = { ...task.attempts[j], status };
  if (status === "queued") a.queued_at = e.time;
  if (status === "running") a.started_at = e.time;
  if (["succeeded", "failed", "retrying", "cancelled", "upstream_failed"].includes(status)) a.finished_at = e.time;
  if (a.started_at && a.finished_at) a.duration = (Date.parse(a.finished_at) - Date.parse(a.started_at)) / 1000;
  if (error) a.error = error;
  task.attempts[j] = a;
  task.status = task.attempts[task.attempts.length - 1].status;
  tasks[i] = task;
  return { ...run, tasks };
}

function applyEvents(state, events) {
  let { run, metrics } = state;
  for (const e of events) {
    if (e.type === "task.progress") run = applyProgress(run, e);
    else if (e.type.startsWith("task.")) run = applyTask(run, e);
    else if (e.type.startsWith("run.")) {
      run = { ...run, status: e.data.status };
      if (e.data.status === "running" && !run.started_at) run.started_at = e.time;
      if (FINISHED.has(e.data.status)) run.finished_at = run.finished_at || e.time;
    } else if (e.type === "metric") {
      metrics = [...(metrics || []), { task_key: e.data.task_key, key: e.data.key, value: e.data.value, step: e.data.step }];
    }
  }
  return { run, metrics };
}

/** The run and its metrics: a snapshot from the API, then kept current by events. Events are
 *  subscribed before the snapshot is read and applied after it, so none falls in between;
 *  they are applied once per animation frame, however many arrive. */
function useLiveRun(id) {
  const [state, setState] = useState({ run: null, metrics: null });
  const [error, setError] = useState(null);
  const pending = useRef([]);
  const ready = useRef(false);
  const frame = useRef(0);
  const load = async () => {
    try {
      const [run, metrics] = await Promise.all([api(`/api/v1/runs/${id}`), api(`/api/v1/runs/${id}/metrics`)]);
      ready.current = true;
      setState({ run, metrics });
      flush();
    } catch (err) { setError(err); }
  };
  const flush = () => {
    cancelAnimationFrame(frame.current);
    frame.current = requestAnimationFrame(() => {
      if (!ready.current || !pending.current.length) return;
      const events = pending.current;
      pending.current = [];
      setState((s) => applyEvents(s, events));
      // The run ended: read it once more for the final times, outputs and exit codes.
      if (events.some((e) => e.type.startsWith("run.") && FINISHED.has(e.data.status))) setTimeout(load, 50);
    });
  };
  // Progress events are thinned out (about 2 a second): the last progress of a burst may come
  // with none. Once they pause, read the run again for the progress its rows hold.
  const quiet = useRef(0);
  useEffect(() => {
    const off = subscribe(`run:${id}`, (e) => {
      if (e.type === "log") return;
      pending.current.push(e);
      flush();
      if (e.type === "task.progress") { clearTimeout(quiet.current); quiet.current = setTimeout(load, 1500); }
    });
    load();
    return () => { off(); cancelAnimationFrame(frame.current); clearTimeout(quiet.current); };
  }, [id]);
  return { ...state, error, reload: load };
}

export function RunPage({ id }) {
  const { run, metrics, error, reload } = useLiveRun(id);
  const [selected, select] = useFollow(run, id);
  title(run ? `Run ${id} · ${run.workflow}` : `Run ${id}`);

  if (error && !run) return html`<div class="page"><${ErrorBox} error=${error} onRetry=${reload} /></div>`;
  if (!run) return html`<${Spinner} />`;
  const statuses = Object.fromEntries(run.tasks.map((t) => [t.key, t.status]));
  const task = run.tasks.find((t) => t.key === selected);

  return html`<div class="page" data-run-id=${id} data-status=${run.status}>
    <div class="crumbs"><${Link} href="/runs">Runs</${Link}> / <${Link} href=${`/workflows/${enc(run.workflow)}`}>${run.workflow}</${Link}> /</div>
    <div class="page-head">
      <h1>Run #${run.id}</h1><${Status} status=${run.status} />
      <small>${run.trigger}${run.triggered_by ? ` by ${run.triggered_by}` : ""} · v${run.workflow_version} · <${Elapsed} from=${run.started_at} to=${run.finished_at} /></small>
      <${Actions} run=${run} onChange=${reload} />
    </div>
    <div class="grid">
      <div>
        <div class="card"><h2>Graph</h2><${Dag} tasks=${run.tasks} statuses=${statuses} selected=${selected} onSelect=${select} /></div>
        <div class="card"><h2>Timeline</h2><${Gantt} run=${run} /></div>
        <${Metrics} metrics=${metrics} />
        <${Artifacts} run=${run} />
      </div>
      <div>
        <${RunProgress} run=${run} onSelect=${select} />
        <${TaskPanel} key=${task?.key} run=${run} task=${task} />
        <${About} run=${run} />
        <${Tracking} run=${run} />
        <${Lineage} run=${run} />
      </div>
    </div>
  </div>`;
}

/** Where the run is forwarded (PLAIT_TRACKING): one line per adapter, with why it is not
 * there yet when a try failed; nothing when no adapter is configured. */
function Tracking({ run }) {
  if (!run.tracking?.length) return null;
  return html`<p class="muted" data-testid="tracking">Tracking: ${run.tracking.map((t, i) => html`${i ? " · " : ""}
    <span data-adapter=${t.adapter} data-status=${t.status} title=${t.error || ""}>${t.adapter} ${t.status}${t.external_id ? ` (${t.external_id})` : ""}${t.error ? `: ${t.error}` : ""}</span>`)}</p>`;
}

/** Time since `from`, ticking each second until `to` is known (only this redraws). */
function Elapsed({ from, to }) {
  const [now, setNow] = useState(Date.now());
  useInterval(() => setNow(Date.now()), from && !to ? 1000 : null);
  if (!from) return html`<span>not started</span>`;
  return html`<span>${duration(((to ? Date.parse(to) : now) - Date.parse(from)) / 1000)}</span>`;
}

function Actions({ run, onChange }) {
  if (!canEdit()) return null;
  const act = async (verb) => {
    try {
      const out = await api(`/api/v1/runs/${run.id}/${verb}`, { method: "POST" });
      if (verb === "rerun") { toast(`Started run ${out.id}`); navigate(`/runs/${out.id}`); return; }
      toast(verb === "cancel" ? "Cancelling: running tasks get SIGTERM" : "Retrying the failed tasks");
      onChange();
    } catch (err) { toast(err.message, "bad"); }
  };
  const pin = async () => {
    try {
      await api(`/api/v1/runs/${run.id}/pin`, { method: run.pinned ? "DELETE" : "POST" });
      toast(run.pinned ? "Unpinned: retention removes it once it is old enough" : "Pinned: retention keeps this run");
      onChange();
    } catch (err) { toast(err.message, "bad"); }
  };
  const finished = FINISHED.has(run.status);
  return html`<div class="actions">
    <button data-testid="pin" onClick=${pin} title=${run.pinned ? "Let retention remove this run once it is old enough" : "Keep this run however old it gets"}>${run.pinned ? "Unpin" : "Pin"}</button>
    ${!finished ? html`<button class="danger" disabled=${run.cancel_requested} onClick=${() => act("cancel")}>${run.cancel_requested ? "Cancelling…" : "Cancel"}</button>` : null}
    ${["failed", "cancelled"].includes(run.status) ? html`<button onClick=${() => act("retry")} title="Run the failed and cancelled tasks again">Retry failed</button>` : null}
    ${finished ? html`<button onClick=${() => act("rerun")} title="A new run with the same params">Rerun</button>` : null}
  </div>`;
}

function TaskPanel({ run, task }) {
  const [shown, setShown] = useState(null); // the attempt whose log is shown; null: the latest
  if (!task) return html`<div class="card"><h2>Task</h2><p class="muted">Select a task in the graph.</p></div>`;
  const last = task.attempts[task.attempts.length - 1];
  const attempt = task.attempts.find((a) => a.attempt === shown) || last;
  const outputs = Object.entries(last?.outputs || {});
  return html`<div class="card" data-testid="task-panel" data-task=${task.key}><h2><code>${task.key}</code> <${Status} status=${task.status} /></h2>
    <${Progress} task=${task} />
    <${Attempts} task=${task} shown=${attempt?.attempt} onShow=${setShown} />
    ${attempt?.worker ? html`<dl class="kv"><dt>Worker</dt><dd data-testid="attempt-worker"><code>${attempt.worker}</code></dd></dl>` : null}
    ${outputs.length ? html`<h3 style="margin-top:12px">Outputs</h3><dl class="kv" data-testid="outputs">${outputs.map(([k, v]) => html`<dt><code>${k}</code></dt><dd><code>${JSON.stringify(v)}</code></dd>`)}</dl>` : null}
    <h3 style="margin-top:12px">Log${task.attempts.length > 1 ? ` of attempt ${attempt.attempt}` : ""}</h3>
    <${LogPane} key=${`${task.key}:${attempt?.attempt}`} runId=${run.id} task=${task.key} attempt=${attempt?.attempt} started=${!!attempt?.started_at || attempt?.status !== "queued"} />
  </div>`;
}

/** Streams the attempt's log (server-sent events read with fetch, so the token travels in
 *  a header, never in a URL). */
function LogPane({ runId, task, attempt, started }) {
  const [text, setText] = useState("");
  const [state, setState] = useState("waiting");
  const box = useRef(null);
  const follow = useRef(true);
  useEffect(() => {
    if (!attempt || !started) return;
    const abort = new AbortController();
    stream(`/api/v1/runs/${runId}/tasks/${enc(task)}/logs/stream?attempt=${attempt}`, abort.signal, (kind, data) => {
      if (kind === "log") setText((t) => t + data.text);
      if (kind === "end") setState("ended");
    }).then(() => setState((s) => (s === "ended" ? s : "ended")), (err) => err.name !== "AbortError" && setState("error"));
    setState("streaming");
    return () => abort.abort();
  }, [runId, task, attempt, started]);
  useEffect(() => { if (follow.current && box.current) box.current.scrollTop = box.current.scrollHeight; }, [text]);
  const onScroll = () => { const b = box.current; follow.current = b.scrollHeight - b.scrollTop - b.clientHeight < 30; };
  return html`<div><pre class="log" ref=${box} onScroll=${onScroll} data-testid="log" data-state=${state} tabindex="0" role="region" aria-label=${`Log of ${task}`}>${text || (state === "ended" ? "(no output)" : state === "error" ? "(the log could not be read)" : "(waiting for output…)")}</pre>
    <small>${state === "streaming" ? "● streaming" : state === "ended" ? "complete" : ""}</small></div>`;
}

async function stream(url, signal, onEvent) {
  const res = await fetch(url, { headers: { Authorization: `Bearer ${await freshToken()}`, Accept: "text/event-stream" }, signal });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const kind = /^event: (.*)$/m.exec(block)?.[1] || "message";
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (data) onEvent(kind, JSON.parse(data));
    }
  }
}

// Memoised: its charts redraw when a metric arrives, not on every task event.
const Metrics = memo(({ metrics }) => {
  const byKey = {};
  for (const m of metrics || []) (byKey[m.key] ||= []).push(m);
  const keys = Object.keys(byKey).sort();
  return html`<div class="card"><h2>Metrics</h2>
    ${keys.length ? html`<div data-testid="metrics">${keys.map((k) => html`<${Metric} key=${k} name=${k} points=${byKey[k]} />`)}</div>`
      : html`<p class="muted">None logged. Tasks log them with <code>plait.log_metric("loss", 0.3, step=1)</code>.</p>`}
  </div>`;
});

function Artifacts({ run }) {
  // Tasks log artifacts as they go, and no event says so: look again as tasks end, at most
  // every two seconds (a 500-task run ends hundreds of tasks a second), and at the run's end.
  const ended = useThrottled(run.tasks.filter((t) => FINISHED.has(t.status)).length, 2000);
  const list = useLoad(() => api(`/api/v1/runs/${run.id}/artifacts`), [run.id, ended, run.finished_at]);
  const download = async (a) => {
    try {
      const res = await api(`/api/v1/runs/${run.id}/artifacts/${a.id}`, { raw: true });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const url = URL.createObjectURL(await res.blob());
      const link = Object.assign(document.createElement("a"), { href: url, download: a.name });
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (err) { toast(`Download failed: ${err.message}`, "bad"); }
  };
  const items = list.data || [];
  const models = useLoad(() => api(`/api/v1/runs/${run.id}/models`), [run.id, ended, run.finished_at]);
  return html`<div class="card"><h2>Artifacts</h2>
    <${ErrorBox} error=${list.error} />
    ${models.data?.length ? html`<p data-testid="run-models">Models logged: ${models.data.map((m, i) => html`${i ? ", " : ""}<${Link} href=${`/models/${encodeURIComponent(m.model)}`}>${m.model} v${m.version}</${Link}>`)}</p>` : null}
    ${items.length ? html`<table class="list" data-testid="artifacts"><thead><tr><th>Name</th><th>Task</th><th>Size</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${items.map((a) => html`<tr><td><code>${a.name}</code></td><td>${a.task_key}</td><td>${(a.size / 1024).toFixed(1)} KiB</td><td><button class="link" onClick=${() => download(a)}>Download</button></td></tr>`)}</tbody></table>`
      : html`<p class="muted">None. Tasks save files with <code>plait.log_artifact(path)</code>.</p>`}
  </div>`;
}

function About({ run }) {
  const params = Object.entries(run.params || {});
  return html`<div class="card"><h2>Details</h2><dl class="kv">
    <dt>Workflow</dt><dd><${Link} href=${`/workflows/${enc(run.workflow)}`}>${run.workflow}</${Link}> v${run.workflow_version}</dd>
    <dt>Created</dt><dd title=${stamp(run.created_at)}><${Time} iso=${run.created_at} /></dd>
    <dt>Retention</dt><dd data-testid="pinned">${run.pinned ? "pinned: kept however old" : "not pinned"}</dd>
    ${run.scheduled_for ? html`<dt>Scheduled for</dt><dd>${stamp(run.scheduled_for)}</dd>` : null}
    ${run.description ? html`<dt>Note</dt><dd>${run.description}</dd>` : null}
    ${run.sweep_id ? html`<dt>Sweep</dt><dd><${Link} href=${`/sweeps/${run.sweep_id}`}>#${run.sweep_id}</${Link}></dd>` : null}
    ${run.rerun_of ? html`<dt>Rerun of</dt><dd><${Link} href=${`/runs/${run.rerun_of}`}>#${run.rerun_of}</${Link}></dd>` : null}
    <dt>Params</dt><dd>${params.length ? html`<dl class="kv" data-testid="run-params">${params.map(([k, v]) => html`<dt><code>${k}</code></dt><dd><code>${JSON.stringify(v)}</code></dd>`)}</dl>` : "none"}</dd>
  </dl></div>`;
}

function Lineage({ run }) {
  const data = useLoad(() => api(`/api/v1/runs/${run.id}/lineage`), [run.id, run.status]);
  const runs = data.data?.runs || [];
  if (runs.length < 2) return null;
  return html`<div class="card"><h2>Chain <${Status} status=${data.data.status} /></h2>
    <ol data-testid="lineage" style="margin:0;padding-left:18px">${runs.map((r) => html`<li>
      ${r.id === run.id ? html`<b>#${r.id} ${r.workflow}</b>` : html`<${Link} href=${`/runs/${r.id}`}>#${r.id} ${r.workflow}</${Link}>`} <${Status} status=${r.status} />
      ${r.upstream_run_id ? html`<small> after #${r.upstream_run_id}</small>` : null}</li>`)}</ol>
  </div>`;
}
