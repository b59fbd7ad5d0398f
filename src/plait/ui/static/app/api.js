// The REST client: one place for tokens, refresh, problem+json errors and "server unreachable".
const KEY = "plait.session";
const listeners = new Set();
let session = read();

function read() {
  try { return JSON.parse(localStorage.getItem(KEY)) || null; } catch { return null; }
}

function store(next) {
  session = next;
  if (next) localStorage.setItem(KEY, JSON.stringify(next));
  else localStorage.removeItem(KEY);
  listeners.forEach((fn) => fn(session));
}

// Another tab logged in, out, or rotated the refresh token: follow it.
window.addEventListener("storage", (e) => {
  if (e.key === KEY) { session = read(); listeners.forEach((fn) => fn(session)); }
});

export const getSession = () => session;
export const onSession = (fn) => { listeners.add(fn); return () => listeners.delete(fn); };
export const accessToken = () => session?.access;

export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.title = problem.title || (status ? `HTTP ${status}` : "Server unreachable");
    this.errors = problem.errors || [];
    this.problem = problem;
  }
}

// Connectivity: the shell shows a banner while the server cannot be reached.
const netListeners = new Set();
export let online = true;
export const onNetwork = (fn) => { netListeners.add(fn); return () => netListeners.delete(fn); };
function setOnline(value) {
  if (value !== online) { online = value; netListeners.forEach((fn) => fn(value)); }
}

async function send(path, { method = "GET", body, headers = {}, signal }, token) {
  const h = { Accept: "application/json", ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  let payload = body;
  if (body !== undefined && !(body instanceof FormData) && typeof body !== "string") {
    h["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  try {
    const res = await fetch(path, { method, headers: h, body: payload, signal });
    setOnline(true);
    return res;
  } catch (err) {
    if (err.name === "AbortError") throw err;
    setOnline(false);
    throw new ApiError(0, { title: "Server unreachable", detail: "Cannot reach the Plait server. Is it running?" });
  }
}

function pair(data) {
  return { access: data.access_token, refresh: data.refresh_token, user: data.user,
           expires: Date.now() + data.expires_in * 1000 };
}

// Refresh tokens rotate on use and a reused one revokes the whole login, so tabs must not
// spend the same one twice: take a lock, and skip the call if another tab already did it.
async function refresh(stale) {
  const run = async () => {
    const now = read();
    if (now && now.access !== stale) { session = now; return true; }
    if (!now?.refresh) return false;
    const res = await send("/api/v1/auth/refresh", { method: "POST", body: { refresh_token: now.refresh } });
    if (!res.ok) { store(null); return false; }
    store(pair(await res.json()));
    return true;
  };
  return navigator.locks ? navigator.locks.request("plait-refresh", run) : run();
}

/** Call the API; returns parsed JSON (or null for 204; the text with `text: true`), throws ApiError. */
export async function api(path, opts = {}) {
  let res = await send(path, opts, session?.access);
  if (res.status === 401 && session?.refresh && !opts.anonymous) {
    if (await refresh(session.access)) res = await send(path, opts, session?.access);
    else store(null);
  }
  if (res.status === 401 && !opts.anonymous) store(null);
  if (opts.raw) return res;
  const text = await res.text();
  if (opts.text && res.ok) return text; // a document as the server wrote it (YAML)
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text.slice(0, 300) }; }
  if (!res.ok) throw new ApiError(res.status, data || {});
  if (opts.withHeaders) return { data, headers: res.headers };
  return data;
}

/** A fresh access token for the WebSocket (refreshed first when close to expiring). */
export async function freshToken() {
  if (session && session.expires - Date.now() < 30_000) await refresh(session.access);
  return session?.access;
}

export async function login(username, password) {
  const res = await send("/api/v1/auth/login", { method: "POST", body: { username, password } });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, data);
  store(pair(data));
  return session.user;
}

export async function logout() {
  const current = session;
  store(null);
  if (current) {
    await send("/api/v1/auth/logout", { method: "POST", body: { refresh_token: current.refresh } },
               current.access).catch(() => {});
  }
}

export function updateUser(user) { if (session) store({ ...session, user }); }

export const q = (params) => {
  const out = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) v.forEach((x) => out.append(k, x));
    else if (v !== undefined && v !== null && v !== "") out.set(k, v);
  }
  const s = out.toString();
  return s ? `?${s}` : "";
};
