// Shared pieces: the html tag, navigation, formatting, and small components.
import { h, Component } from "preact";
import { useEffect, useRef, useState, useCallback } from "preact/hooks";
import htm from "htm";
import { getSession } from "./api.js";

export const html = htm.bind(h);

// --- navigation (History API; the server answers every page path with the shell) ---
const routeListeners = new Set();
export const onRoute = (fn) => { routeListeners.add(fn); return () => routeListeners.delete(fn); };
export function navigate(to, { replace = false } = {}) {
  if (to === location.pathname + location.search) return;
  history[replace ? "replaceState" : "pushState"](null, "", to);
  routeListeners.forEach((fn) => fn());
  window.scrollTo(0, 0);
}
window.addEventListener("popstate", () => routeListeners.forEach((fn) => fn()));

export function Link({ href, children, ...rest }) {
  const click = (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    navigate(href);
  };
  return html`<a href=${href} onClick=${click} ...${rest}>${children}</a>`;
}

/** Run statuses that are final. */
export const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
export const canEdit = () => ["admin", "editor"].includes(getSession()?.user?.role);
export const isAdmin = () => getSession()?.user?.role === "admin";

// --- formatting ---
export function duration(seconds) {
  if (seconds == null) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  if (m < 60) return `${m}m ${s}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
export function ago(iso) {
  if (!iso) return "–";
  const diff = (new Date(iso) - Date.now()) / 1000;
  const abs = Math.abs(diff);
  if (abs < 45) return diff < 0 ? "just now" : "in a moment";
  const [unit, size] = abs < 3600 ? ["minute", 60] : abs < 86400 ? ["hour", 3600] : ["day", 86400];
  return rtf.format(Math.round(diff / size), unit);
}
// Dates in the browser's locale (its default: no locale named). With `timeZone` (a
// workflow's, for its schedule) the time is that zone's wall clock, the zone named beside it.
const WHEN = { year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit" };
const formats = new Map();
function format(timeZone) {
  if (!formats.has(timeZone)) {
    formats.set(timeZone, new Intl.DateTimeFormat(undefined, timeZone ? { ...WHEN, timeZone, timeZoneName: "short" } : WHEN));
  }
  return formats.get(timeZone);
}
export const stamp = (iso, timeZone) => (iso ? format(timeZone).format(new Date(iso)) : "–");

export function Time({ iso, zone }) {
  return html`<time datetime=${iso} title=${stamp(iso, zone)}>${ago(iso)}</time>`;
}

export function Status({ status }) {
  return html`<span class=${`status s-${status}`} data-status=${status}>${(status || "").replaceAll("_", " ")}</span>`;
}

// --- data loading ---
/** Runs `load` when `deps` change; gives {data, error, loading, reload, setData}. */
export function useLoad(load, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const seq = useRef(0);
  const reload = useCallback(() => {
    const n = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => n === seq.current && setState({ data, error: null, loading: false }),
      (error) => n === seq.current && setState((s) => ({ data: s.data, error, loading: false })),
    );
  }, deps);
  useEffect(reload, [reload]);
  const setData = (fn) => setState((s) => ({ ...s, data: typeof fn === "function" ? fn(s.data) : fn }));
  return { ...state, reload, setData };
}

export function ErrorBox({ error, onRetry }) {
  if (!error) return null;
  return html`<div class="error-box" role="alert">
    <strong>${error.title || "Error"}</strong> ${error.message}
    ${error.errors?.length ? html`<ul>${error.errors.map((e) => html`<li><code>${e.field}</code> ${e.message}</li>`)}</ul>` : null}
    ${onRetry ? html` <button class="link" onClick=${onRetry}>Try again</button>` : null}
  </div>`;
}

export function Empty({ title, children }) {
  return html`<div class="empty"><h3>${title}</h3><div>${children}</div></div>`;
}

export function Spinner() { return html`<div class="spinner" role="status" aria-label="Loading"></div>`; }

// Dialogs live in dialog.js (focus trap, Escape, styled confirmations).
export { Modal, ask } from "./dialog.js";

// --- toasts ---
const toastListeners = new Set();
export function toast(message, kind = "ok") { toastListeners.forEach((fn) => fn({ message, kind, id: Math.random() })); }
export function Toasts() {
  const [items, setItems] = useState([]);
  useEffect(() => {
    const add = (t) => {
      setItems((xs) => [...xs, t]);
      setTimeout(() => setItems((xs) => xs.filter((x) => x.id !== t.id)), 4000);
    };
    toastListeners.add(add);
    return () => toastListeners.delete(add);
  }, []);
  return html`<div class="toasts" aria-live="polite">${items.map((t) => html`<div class=${`toast ${t.kind}`}>${t.message}</div>`)}</div>`;
}

/** The API's messages for the fields under `prefix` (a loc path such as ["tasks", 0]). */
export function fieldErrors(error, prefix) {
  const out = {};
  for (const e of error?.errors || []) {
    const loc = e.loc || [];
    if (prefix.every((p, i) => loc[i] === p)) {
      const rest = loc.slice(prefix.length).join(".");
      (out[rest] ||= []).push(e.message);
    }
  }
  return out;
}

export function FieldError({ messages }) {
  if (!messages?.length) return null;
  return html`<div class="field-error" role="alert">${messages.join("; ")}</div>`;
}

// Pydantic's pattern messages quote a regular expression nobody should have to read.
const humane = (m) => (m.startsWith("String should match pattern") ? "is not in the expected form" : m);

/** Messages for `key` and anything under it in `fe` (from fieldErrors): "config.to.1" shows
 *  under "config.to" as "#2: …". */
export function under(fe, key) {
  return Object.entries(fe).filter(([k]) => k === key || k.startsWith(`${key}.`)).flatMap(([k, messages]) => {
    const rest = k.slice(key.length + 1);
    const where = rest === "" ? "" : /^\d+$/.test(rest) ? `#${Number(rest) + 1}: ` : `${rest}: `;
    return messages.map((m) => where + humane(m));
  });
}

/** A labelled input with the API's messages for field `name` (default: `id`) beside it. */
export function Field({ id, label, name, fe = {}, hint, children }) {
  const messages = under(fe, name || id);
  return html`<div class=${messages.length ? "field invalid" : "field"}>
    ${label ? html`<label for=${id}>${label}</label>` : null}
    ${children}
    ${hint ? html`<small>${hint}</small>` : null}
    <${FieldError} messages=${messages} />
  </div>`;
}

export function useInterval(fn, ms) {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    if (ms == null) return;
    const id = setInterval(() => saved.current(), ms);
    return () => clearInterval(id);
  }, [ms]);
}

export function title(text) { document.title = text ? `${text} · Plait` : "Plait"; }

/** Keyset paging buttons; `setCursors` holds the cursor of every page visited so far. */
export function Pager({ page, next, setCursors, labels = ["← Previous", "Next →"] }) {
  return html`<div class="pager">
    <small>Page ${page + 1}</small>
    <button disabled=${page === 0} onClick=${() => setCursors((c) => c.slice(0, -1))}>${labels[0]}</button>
    <button disabled=${!next} onClick=${() => setCursors((c) => [...c, next])}>${labels[1]}</button>
  </div>`;
}

/** A component that re-renders only when a prop changes (shallow), like React.memo: Preact's
 *  own lives in preact/compat, which this app does not load. */
export function memo(render) {
  return class Memo extends Component {
    shouldComponentUpdate(next) {
      for (const k in next) if (next[k] !== this.props[k]) return true;
      for (const k in this.props) if (!(k in next)) return true;
      return false;
    }
    render(props) { return render(props); }
  };
}

/** `value`, but changing at most once every `ms` (the latest value wins). */
export function useThrottled(value, ms) {
  const [current, setCurrent] = useState(value);
  const last = useRef(0);
  useEffect(() => {
    const wait = Math.max(0, last.current + ms - Date.now());
    const id = setTimeout(() => { last.current = Date.now(); setCurrent(value); }, wait);
    return () => clearTimeout(id);
  }, [value]);
  return current;
}

const sameValue = (a, b) => a === b || JSON.stringify(a) === JSON.stringify(b);
const asText = (v) => (v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v));

/**
 * An input for a value parsed from its text (a number, JSON): `onValue(parse(text))` on each
 * key. The text stays as typed: writing the parsed value back into the box rewrote it under
 * the cursor ("1.50" became "1.5", "1.0" became "1" so 1.05 could not be typed, "[1, 2]"
 * became "[1,2]"). Only a `value` that differs from the one this input produced replaces it.
 */
export function ValueInput({ value, parse, format = asText, onValue, ...props }) {
  const own = useRef(null);
  if (own.current === null || !sameValue(own.current.value, value)) own.current = { text: format(value), value };
  const input = (e) => {
    const text = e.target.value;
    own.current = { text, value: parse(text) };
    onValue(own.current.value);
  };
  return html`<input ...${props} value=${own.current.text} onInput=${input} />`;
}

/** A metric value as people read it: integers as they are, others to 6 significant digits. */
export const number = (v) => (v == null ? "–" : Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6))));
