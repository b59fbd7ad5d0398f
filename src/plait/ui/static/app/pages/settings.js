// Settings: your account and password, API tokens, users (admins), and notification
// channels and rules. The tab lives in ?tab= so a link can open the right one.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, q, getSession, login, updateUser } from "../api.js";
import { html, Pager, Link, Time, useLoad, ErrorBox, Empty, Spinner, Modal, toast, fieldErrors, FieldError, Field, under, canEdit, isAdmin, title, ask } from "../ui.js";

const TABS = [
  ["profile", "Profile"],
  ["tokens", "API tokens"],
  ["users", "Users", isAdmin],
  ["notifications", "Notifications"],
];

export function SettingsPage() {
  title("Settings");
  const tabs = TABS.filter(([, , allowed]) => !allowed || allowed());
  const wanted = new URLSearchParams(location.search).get("tab");
  const tab = tabs.some(([id]) => id === wanted) ? wanted : "profile";
  const View = { profile: Profile, tokens: Tokens, users: Users, notifications: Notifications }[tab];
  // A tab this user may not see (or a typo) shows Profile: make the URL say so too.
  useEffect(() => {
    if (wanted !== null && wanted !== tab) history.replaceState(null, "", `/settings?tab=${tab}`);
  }, [wanted, tab]);
  return html`<div class="page">
    <div class="page-head"><h1>Settings</h1></div>
    <nav class="tabs" aria-label="Settings sections">
      ${tabs.map(([id, label]) => html`<${Link} href=${`/settings?tab=${id}`} class=${id === tab ? "active" : ""}
        aria-current=${id === tab ? "page" : undefined} data-tab=${id}>${label}</${Link}>`)}
    </nav>
    <${View} />
  </div>`;
}

// --- forms: API errors go beside their field; whatever no field shows goes in an ErrorBox ---

/** The part of `error` that no field in `keys` shows (null when nothing is left to say). */
function leftover(error, keys) {
  if (!error) return null;
  const shown = (e) => keys.some((k) => { const at = (e.loc || []).join("."); return at === k || at.startsWith(`${k}.`); });
  const errors = (error.errors || []).filter((e) => !shown(e));
  if (error.errors?.length && !errors.length) return null; // every problem sits beside its field
  return { title: error.title || "Error", message: error.message, errors };
}

/** submit(formData, form) runs with busy set; what it throws becomes `error`. */
function useForm(submit) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const onSubmit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try { await submit(new FormData(e.target), e.target); } catch (err) { setError(err); } finally { setBusy(false); }
  };
  return { error, busy, onSubmit, fe: fieldErrors(error, []) };
}


// A client-side check reported like the API's own, so it lands beside its field.
const invalid = (field, message) => Object.assign(new Error(message), { title: "Check the form", errors: [{ field, loc: [field], message }] });

/** Run a row action: a toast says how it went; errors never escape. */
async function act(work, done) {
  try {
    const out = await work();
    if (done) toast(typeof done === "function" ? done(out) : done);
    return out;
  } catch (err) {
    toast(`${err.title || "Error"}: ${err.message}`, "bad");
    return undefined;
  }
}

// Rows of fields line up by their tops, so a hint or an error under one does not lift the others.
const TOP = "align-items:flex-start";
const me = () => getSession()?.user;
const blank = (v) => (v || "").trim() || undefined;

// --- Profile ---

function Profile() {
  const user = useLoad(() => api("/api/v1/users/me"), []);
  const u = user.data;
  return html`<div>
    <${ErrorBox} error=${user.error} onRetry=${user.reload} />
    ${!u ? (user.loading ? html`<${Spinner} />` : null) : html`
      <div class="card" data-testid="profile"><h2>Your account</h2>
        <dl class="kv">
          <dt>Username</dt><dd>${u.username}</dd>
          <dt>Email</dt><dd>${u.email || html`<small>none</small>`}</dd>
          <dt>Role</dt><dd>${u.role} <small>${ROLE_HINT[u.role]}</small></dd>
          <dt>Member since</dt><dd><${Time} iso=${u.created_at} /></dd>
        </dl>
      </div>
      <${PasswordForm} username=${u.username} />`}
  </div>`;
}

const ROLE_HINT = {
  viewer: "reads workflows and runs",
  editor: "also creates workflows and runs them",
  admin: "also manages users",
};

function PasswordForm({ username }) {
  const form = useForm(async (f, el) => {
    if (f.get("new_password") !== f.get("confirm")) throw invalid("confirm", "does not match the new password");
    const body = { current_password: f.get("current_password"), new_password: f.get("new_password") };
    await api("/api/v1/users/me/password", { method: "POST", body });
    el.reset();
    // The server ends every login of yours (this one too): log in again with the new password.
    const again = await login(username, body.new_password).then(() => true, () => false);
    toast(again ? "Password changed. Other sessions were logged out." : "Password changed. Log in again with it.");
  });
  return html`<form class="card" onSubmit=${form.onSubmit} data-testid="password-form"><h2>Change password</h2>
    <input type="text" name="username" value=${username} autocomplete="username" hidden readonly />
    <div class="row" style=${TOP}>
      <${Field} id="current_password" label="Current password" fe=${form.fe}>
        <input id="current_password" name="current_password" type="password" autocomplete="current-password" required /></${Field}>
      <${Field} id="new_password" label="New password" fe=${form.fe} hint="At least 8 characters.">
        <input id="new_password" name="new_password" type="password" autocomplete="new-password" required /></${Field}>
      <${Field} id="confirm" label="Repeat new password" fe=${form.fe}>
        <input id="confirm" name="confirm" type="password" autocomplete="new-password" required /></${Field}>
    </div>
    <${ErrorBox} error=${leftover(form.error, ["current_password", "new_password", "confirm"])} />
    <button class="primary" type="submit" disabled=${form.busy}>${form.busy ? "Saving…" : "Change password"}</button>
    <small> Your other sessions will be logged out.</small>
  </form>`;
}

// --- API tokens ---

function tokenState(t) {
  if (t.revoked_at) return ["revoked", "cancelled"];
  if (t.expires_at && new Date(t.expires_at) < new Date()) return ["expired", "failed"];
  return ["active", "succeeded"];
}

function Tokens() {
  const [all, setAll] = useState(false);
  const [created, setCreated] = useState(null);
  const list = useLoad(() => api(`/api/v1/tokens${q({ all: all ? "true" : "" })}`), [all]);
  const items = [...(list.data || [])].reverse(); // newest first
  const revoke = async (t) => {
    if (!await ask({ title: `Revoke the token "${t.name}"?`, message: "Anything using it stops working at once.", action: "Revoke", danger: true })) return;
    await act(() => api(`/api/v1/tokens/${t.id}`, { method: "DELETE" }), `Token "${t.name}" revoked.`);
    list.reload();
  };
  return html`<div>
    <${NewToken} onCreated=${(t) => { setCreated(t); list.reload(); }} />
    <div class="toolbar">
      <h2 style="margin:0">Tokens</h2>
      ${isAdmin() ? html`<label><input type="checkbox" checked=${all} onChange=${(e) => setAll(e.target.checked)} /> Everyone's</label>` : null}
      ${list.loading ? html`<small>Loading…</small>` : null}
    </div>
    <${ErrorBox} error=${list.error} onRetry=${list.reload} />
    ${list.data === null ? (list.loading ? html`<${Spinner} />` : null)
      : items.length === 0 ? html`<${Empty} title="No API tokens">
          <p>Create one above for scripts and the CLI (<code>PLAIT_TOKEN</code>); it acts with your role.</p></${Empty}>`
      : html`<div class="table-wrap"><table class="list" data-testid="tokens">
          <thead><tr><th>Name</th>${all ? html`<th>User</th>` : null}<th>Prefix</th><th>State</th><th>Created</th><th>Expires</th><th>Last used</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
          <tbody>${items.map((t) => html`<${TokenRow} key=${t.id} t=${t} all=${all} onRevoke=${revoke} />`)}</tbody>
        </table></div>`}
    ${created ? html`<${SecretModal} token=${created} onClose=${() => setCreated(null)} />` : null}
  </div>`;
}

function TokenRow({ t, all, onRevoke }) {
  const [state, cls] = tokenState(t);
  return html`<tr data-token=${t.id}>
    <td><b>${t.name}</b></td>
    ${all ? html`<td>${t.user_id === me()?.id ? "you" : `#${t.user_id}`}</td>` : null}
    <td><code>plait_${t.prefix}_…</code></td>
    <td><span class=${`status s-${cls}`}>${state}</span></td>
    <td><${Time} iso=${t.created_at} /></td>
    <td>${t.expires_at ? html`<${Time} iso=${t.expires_at} />` : html`<small>never</small>`}</td>
    <td>${t.last_used_at ? html`<${Time} iso=${t.last_used_at} />` : html`<small>never</small>`}</td>
    <td>${state === "revoked" ? null : html`<button class="danger" onClick=${() => onRevoke(t)}>Revoke</button>`}</td>
  </tr>`;
}

function NewToken({ onCreated }) {
  const form = useForm(async (f, el) => {
    const days = blank(f.get("expires_in_days"));
    const body = { name: f.get("name").trim(), expires_in_days: days ? Number(days) : null };
    const token = await api("/api/v1/tokens", { method: "POST", body });
    el.reset();
    onCreated(token);
  });
  return html`<form class="card" onSubmit=${form.onSubmit} data-testid="new-token"><h2>New API token</h2>
    <div class="row" style=${TOP}>
      <${Field} id="token-name" name="name" label="Name" fe=${form.fe} hint="What uses it, e.g. nightly-ci.">
        <input id="token-name" name="name" required maxlength="100" autocomplete="off" /></${Field}>
      <${Field} id="token-days" name="expires_in_days" label="Expires after (days)" fe=${form.fe} hint="Empty: never expires.">
        <input id="token-days" name="expires_in_days" type="number" min="1" max="3650" step="1" /></${Field}>
    </div>
    <${ErrorBox} error=${leftover(form.error, ["name", "expires_in_days"])} />
    <button class="primary" type="submit" disabled=${form.busy}>${form.busy ? "Creating…" : "Create token"}</button>
  </form>`;
}

/** Shows a new token's secret: the only time anyone sees it. */
function SecretModal({ token, onClose }) {
  const box = useRef(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(token.token);
      toast("Token copied.");
    } catch {
      // No clipboard API (plain http on another host): select it for Ctrl+C instead.
      box.current?.select();
      const copied = document.execCommand?.("copy");
      toast(copied ? "Token copied." : "Select the token and copy it by hand.", copied ? "ok" : "bad");
    }
  };
  return html`<${Modal} title=${`Token "${token.name}" created`} onClose=${onClose}>
    <p><b>Copy it now: it will not be shown again.</b> Plait keeps only a hash of it; if you lose it, revoke it and create another.</p>
    <div class="toolbar">
      <input ref=${box} readonly value=${token.token} aria-label="The new token" data-testid="token-secret"
        style="flex:1;font-family:var(--mono)" onFocus=${(e) => e.target.select()} />
      <button class="primary" onClick=${copy}>Copy</button>
    </div>
    <small>Use it as <code>Authorization: Bearer …</code>, or set <code>PLAIT_TOKEN</code> for the CLI.
      ${token.expires_at ? html` It expires <${Time} iso=${token.expires_at} />.` : " It does not expire."}</small>
    <footer><button onClick=${onClose}>I have stored it</button></footer>
  </${Modal}>`;
}

// --- Users (admins) ---

const ROLES = ["viewer", "editor", "admin"];
const USERS_PAGE = 100;

function Users() {
  const [cursors, setCursors] = useState([null]); // the users list pages by id
  const page = cursors.length - 1;
  const list = useLoad(() => api(`/api/v1/users${q({ limit: USERS_PAGE, after_id: cursors[page] })}`), [cursors]);
  const replace = (u) => {
    list.setData((d) => ({ ...d, items: d.items.map((x) => (x.id === u.id ? u : x)) }));
    if (u.id === me()?.id) updateUser(u); // your own role: the top bar and buttons follow
  };
  const items = list.data?.items || [];
  return html`<div>
    <${NewUser} onCreated=${list.reload} />
    <div class="toolbar"><h2 style="margin:0">Users</h2>${list.loading ? html`<small>Loading…</small>` : null}</div>
    <${ErrorBox} error=${list.error} onRetry=${list.reload} />
    ${list.data === null ? (list.loading ? html`<${Spinner} />` : null)
      : html`<div class="table-wrap"><table class="list" data-testid="users">
          <thead><tr><th>Username</th><th>Email</th><th>Role</th><th>State</th><th>Created</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
          <tbody>${items.map((u) => html`<${UserRow} key=${u.id} u=${u} onChange=${replace} />`)}</tbody>
        </table></div>
        <${Pager} page=${page} next=${list.data?.next_cursor} setCursors=${setCursors} />`}
  </div>`;
}

function UserRow({ u, onChange }) {
  const [busy, setBusy] = useState(false);
  const patch = async (body, done) => {
    setBusy(true);
    const out = await act(() => api(`/api/v1/users/${u.id}`, { method: "PATCH", body }), done);
    setBusy(false);
    if (out) onChange(out);
    return out;
  };
  const role = async (e) => {
    const el = e.target;
    // A refused change (the last admin) leaves the select showing what is stored.
    if (!(await patch({ role: el.value }, `${u.username} is now ${el.value}.`))) el.value = u.role;
  };
  const toggle = async () => {
    if (u.is_active && !await ask({ title: `Deactivate ${u.username}?`, message: "They are logged out and their API tokens stop working.", action: "Deactivate", danger: true })) return;
    patch({ is_active: !u.is_active }, `${u.username} ${u.is_active ? "deactivated" : "activated"}.`);
  };
  return html`<tr data-user=${u.username}>
    <td><b>${u.username}</b>${u.id === me()?.id ? html` <small>(you)</small>` : null}</td>
    <td>${u.email || html`<small>–</small>`}</td>
    <td><select aria-label=${`Role of ${u.username}`} value=${u.role} disabled=${busy} onChange=${role}>
      ${ROLES.map((r) => html`<option value=${r}>${r}</option>`)}</select></td>
    <td><span class=${`status ${u.is_active ? "s-succeeded" : "s-cancelled"}`}>${u.is_active ? "active" : "inactive"}</span></td>
    <td><${Time} iso=${u.created_at} /></td>
    <td><button class=${u.is_active ? "danger" : ""} disabled=${busy} onClick=${toggle}>${u.is_active ? "Deactivate" : "Activate"}</button></td>
  </tr>`;
}

function NewUser({ onCreated }) {
  const form = useForm(async (f, el) => {
    const body = { username: f.get("username").trim(), password: f.get("password"), role: f.get("role"), email: blank(f.get("email")) ?? null };
    const user = await api("/api/v1/users", { method: "POST", body });
    el.reset();
    toast(`User ${user.username} created.`);
    onCreated();
  });
  return html`<form class="card" onSubmit=${form.onSubmit} data-testid="new-user"><h2>New user</h2>
    <div class="row" style=${TOP}>
      <${Field} id="user-username" name="username" label="Username" fe=${form.fe} hint="Letters, digits and _ . @ -">
        <input id="user-username" name="username" required maxlength="64" autocomplete="off" /></${Field}>
      <${Field} id="user-password" name="password" label="Password" fe=${form.fe} hint="At least 8 characters; they can change it.">
        <input id="user-password" name="password" type="password" required autocomplete="new-password" /></${Field}>
      <${Field} id="user-role" name="role" label="Role" fe=${form.fe}>
        <select id="user-role" name="role">${ROLES.map((r) => html`<option value=${r}>${r}</option>`)}</select></${Field}>
      <${Field} id="user-email" name="email" label="Email (optional)" fe=${form.fe}>
        <input id="user-email" name="email" type="email" autocomplete="off" /></${Field}>
    </div>
    <${ErrorBox} error=${leftover(form.error, ["username", "password", "role", "email"])} />
    <button class="primary" type="submit" disabled=${form.busy}>${form.busy ? "Creating…" : "Create user"}</button>
  </form>`;
}

// --- Notifications: channels and rules ---

const EVENTS = [
  ["run.failed", "Run failed"],
  ["run.succeeded", "Run succeeded"],
  ["run.cancelled", "Run cancelled"],
  ["task.retrying", "Task retrying"],
  ["run.duration_exceeded", "Run past its time limit (SLA)"],
];

// Editors manage what they created; admins manage everything.
const mayManage = (x) => canEdit() && (isAdmin() || x.owner_id === me()?.id);

function Notifications() {
  const channels = useLoad(() => api("/api/v1/channels"), []);
  const rules = useLoad(() => api("/api/v1/rules"), []);
  // Deleting a channel deletes its rules: both lists change.
  const reloadAll = () => { channels.reload(); rules.reload(); };
  return html`<div>
    <${Channels} list=${channels} onChange=${reloadAll} />
    <${Rules} list=${rules} channels=${channels.data || []} />
  </div>`;
}

// A section's title with its buttons on the right (an h2 would make them title-sized).
function Head({ title: text, sub, children }) {
  return html`<div class="page-head" style="margin-bottom:10px"><h2 style="margin:0">${text} <small>${sub}</small></h2>
    <div class="actions">${children}</div></div>`;
}

function Channels({ list, onChange }) {
  const [adding, setAdding] = useState(false);
  const items = list.data || [];
  return html`<section class="card" data-testid="channels">
    <${Head} title="Channels" sub="where messages go">
      ${canEdit() ? html`<button class="primary" onClick=${() => setAdding(true)}>New channel</button>` : null}</${Head}>
    <${ErrorBox} error=${list.error} onRetry=${list.reload} />
    ${list.data === null ? (list.loading ? html`<${Spinner} />` : null)
      : items.length === 0 ? html`<${Empty} title="No channels yet">
          ${canEdit() ? html`<p>Add one with <b>New channel</b>: Slack, email, or a signed webhook. Then add a rule that sends events to it.</p>`
            : html`<p>Ask an editor to add one.</p>`}</${Empty}>`
      : html`<div class="table-wrap"><table class="list">
          <thead><tr><th>Name</th><th>Kind</th><th>Sends to</th><th>Secret</th><th>State</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
          <tbody>${items.map((c) => html`<${ChannelRow} key=${c.id} c=${c} onChange=${onChange} />`)}</tbody>
        </table></div>`}
    ${adding ? html`<${ChannelModal} onClose=${() => setAdding(false)} onCreated=${() => { setAdding(false); onChange(); }} />` : null}
  </section>`;
}

function where(c) {
  const k = c.config || {};
  if (c.kind === "slack") return k.mode === "bot" ? `bot → ${k.channel}` : "incoming webhook";
  if (c.kind === "email") return `${(k.to || []).join(", ")} via ${k.host}${k.port ? `:${k.port}` : ""} (${k.security || "starttls"})`;
  if (c.kind === "webhook") return k.url;
  return JSON.stringify(k);
}

function ChannelRow({ c, onChange }) {
  const [testing, setTesting] = useState(false);
  const [result, setResult] = useState(null);
  const test = async () => {
    setTesting(true);
    const out = await act(() => api(`/api/v1/channels/${c.id}/test`, { method: "POST" }));
    setTesting(false);
    if (!out) return;
    setResult(out);
    const code = out.response_code ? ` (${out.response_code})` : "";
    toast(out.ok ? `Test message sent to ${c.name}${code}.` : `Test to ${c.name} failed${code}: ${out.error || "no answer"}`, out.ok ? "ok" : "bad");
  };
  const remove = async () => {
    if (!await ask({ title: `Delete the channel "${c.name}"?`, message: "Its rules and delivery history go with it.", action: "Delete", danger: true })) return;
    if ((await act(() => api(`/api/v1/channels/${c.id}`, { method: "DELETE" }), `Channel "${c.name}" deleted.`)) !== undefined) onChange();
  };
  const enable = async () => {
    if (await act(() => api(`/api/v1/channels/${c.id}`, { method: "PATCH", body: { enabled: !c.enabled } }))) onChange();
  };
  const manage = mayManage(c);
  return html`<tr data-channel=${c.name}>
    <td><b>${c.name}</b></td>
    <td>${c.kind}</td>
    <td style="max-width:360px;overflow-wrap:anywhere">${where(c)}
      ${result ? html`<div class=${result.ok ? "muted" : "field-error"} data-testid="test-result">Test: ${result.ok ? "sent" : result.error || "failed"}${result.response_code ? ` (${result.response_code})` : ""}</div>` : null}</td>
    <td>${c.has_secret ? html`<span class="chip" title="Stored; never shown">set</span>` : html`<small>none</small>`}</td>
    <td>${manage ? html`<button class="link" title="Turn on or off" onClick=${enable}>${c.enabled ? "enabled" : "disabled"}</button>`
      : c.enabled ? "enabled" : html`<small>disabled</small>`}</td>
    <td style="white-space:nowrap">${manage ? html`<button disabled=${testing} onClick=${test}>${testing ? "Sending…" : "Send test"}</button>${" "}
      <button class="danger" onClick=${remove}>Delete</button>` : null}</td>
  </tr>`;
}

const SECRET_LABEL = {
  "slack:webhook": ["Incoming webhook URL", "https://hooks.slack.com/services/…"],
  "slack:bot": ["Bot token", "xoxb-…"],
  email: ["SMTP password", "Only with a username"],
  webhook: ["Signing key", "At least 16 characters"],
};

function channelConfig(kind, f) {
  const s = (k) => blank(f.get(k));
  if (kind === "slack") return s("mode") === "bot" ? { mode: "bot", channel: s("channel") } : { mode: "webhook" };
  if (kind === "email") {
    return { host: s("host"), port: s("port") ? Number(s("port")) : undefined, security: s("security"),
             username: s("username"), sender: s("sender"), to: (f.get("to") || "").split(/[\s,;]+/).filter(Boolean) };
  }
  return { url: s("url") };
}

const CHANNEL_KEYS = ["name", "kind", "secret", "enabled", "config.mode", "config.channel", "config.host", "config.port",
  "config.security", "config.username", "config.sender", "config.to", "config.url"];

function ChannelModal({ onClose, onCreated }) {
  const [kind, setKind] = useState("slack");
  const [mode, setMode] = useState("webhook");
  const [secret, setSecret] = useState("");
  const form = useForm(async (f) => {
    const body = { name: f.get("name").trim(), kind, config: channelConfig(kind, f), secret: secret || null, enabled: f.get("enabled") === "on" };
    const channel = await api("/api/v1/channels", { method: "POST", body });
    toast(`Channel "${channel.name}" created. Send it a test message to check it.`);
    onCreated();
  });
  const [secretLabel, placeholder] = SECRET_LABEL[kind === "slack" ? `slack:${mode}` : kind];
  const generate = () => {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    setSecret(btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""));
  };
  return html`<${Modal} title="New channel" onClose=${onClose}>
    <form onSubmit=${form.onSubmit} data-testid="new-channel">
      <div class="row" style=${TOP}>
        <${Field} id="ch-name" name="name" label="Name" fe=${form.fe}><input id="ch-name" name="name" required maxlength="100" autocomplete="off" /></${Field}>
        <${Field} id="ch-kind" name="kind" label="Kind" fe=${form.fe}>
          <select id="ch-kind" value=${kind} onChange=${(e) => { setKind(e.target.value); setSecret(""); }}>
            <option value="slack">Slack</option><option value="email">Email (SMTP)</option><option value="webhook">Webhook (signed JSON)</option>
          </select></${Field}>
      </div>
      ${kind === "slack" ? html`<${SlackFields} fe=${form.fe} mode=${mode} setMode=${setMode} />`
        : kind === "email" ? html`<${EmailFields} fe=${form.fe} />` : html`<${WebhookFields} fe=${form.fe} />`}
      <${Field} id="ch-secret" name="secret" label=${`${secretLabel} (secret)`} fe=${form.fe}
        hint="Write-only: stored, never shown again, not even to you.">
        <div class="toolbar" style="margin:0">
          <input id="ch-secret" type="password" autocomplete="new-password" placeholder=${placeholder} value=${secret}
            onInput=${(e) => setSecret(e.target.value)} style="flex:1" />
          ${kind === "webhook" ? html`<button type="button" onClick=${generate}>Generate</button>` : null}
        </div></${Field}>
      <label><input type="checkbox" name="enabled" checked /> Enabled</label>
      <${ErrorBox} error=${leftover(form.error, CHANNEL_KEYS)} />
      <footer><button type="button" onClick=${onClose}>Cancel</button>
        <button class="primary" type="submit" disabled=${form.busy}>${form.busy ? "Creating…" : "Create channel"}</button></footer>
    </form>
  </${Modal}>`;
}

function SlackFields({ fe, mode, setMode }) {
  return html`<div class="row" style=${TOP}>
    <${Field} id="ch-mode" name="config.mode" label="Send with" fe=${fe}>
      <select id="ch-mode" name="mode" value=${mode} onChange=${(e) => setMode(e.target.value)}>
        <option value="webhook">Incoming webhook</option><option value="bot">Bot (chat.postMessage)</option>
      </select></${Field}>
    ${mode === "bot" ? html`<${Field} id="ch-channel" name="config.channel" label="Slack channel" fe=${fe}>
      <input id="ch-channel" name="channel" placeholder="#ml-alerts, a channel id or @user" autocomplete="off" /></${Field}>` : null}
  </div>`;
}

function EmailFields({ fe }) {
  return html`<div>
    <div class="row" style=${TOP}>
      <${Field} id="ch-host" name="config.host" label="SMTP host" fe=${fe}><input id="ch-host" name="host" placeholder="smtp.example.com" autocomplete="off" /></${Field}>
      <${Field} id="ch-security" name="config.security" label="Security" fe=${fe}>
        <select id="ch-security" name="security"><option value="starttls">STARTTLS</option><option value="ssl">SSL/TLS</option><option value="plain">None (trusted network only)</option></select></${Field}>
      <${Field} id="ch-port" name="config.port" label="Port" fe=${fe} hint="Empty: 587, 465 or 25 by security.">
        <input id="ch-port" name="port" type="number" min="1" max="65535" /></${Field}>
    </div>
    <div class="row" style=${TOP}>
      <${Field} id="ch-username" name="config.username" label="Username (optional)" fe=${fe} hint="With a username, give its password below.">
        <input id="ch-username" name="username" autocomplete="off" /></${Field}>
      <${Field} id="ch-sender" name="config.sender" label="From" fe=${fe}><input id="ch-sender" name="sender" placeholder="plait@example.com" autocomplete="off" /></${Field}>
    </div>
    <${Field} id="ch-to" name="config.to" label="To" fe=${fe} hint="Up to 50 addresses, separated by commas or spaces.">
      <input id="ch-to" name="to" placeholder="ml-team@example.com, oncall@example.com" autocomplete="off" /></${Field}>
  </div>`;
}

function WebhookFields({ fe }) {
  return html`<${Field} id="ch-url" name="config.url" label="URL" fe=${fe} hint="Receives a signed JSON POST per message; redirects are not followed.">
    <input id="ch-url" name="url" placeholder="https://example.com/plait-hook" autocomplete="off" /></${Field}>`;
}

function Rules({ list, channels }) {
  const [adding, setAdding] = useState(false);
  const items = list.data || [];
  const names = Object.fromEntries(channels.map((c) => [c.id, c.name]));
  return html`<section class="card" data-testid="rules">
    <${Head} title="Rules" sub="which events go to which channel">
      ${canEdit() ? html`<button class="primary" disabled=${channels.length === 0}
        title=${channels.length ? "" : "Create a channel first"} onClick=${() => setAdding(true)}>New rule</button>` : null}</${Head}>
    <${ErrorBox} error=${list.error} onRetry=${list.reload} />
    ${list.data === null ? (list.loading ? html`<${Spinner} />` : null)
      : items.length === 0 ? html`<${Empty} title="No rules yet">
          ${!canEdit() ? html`<p>Ask an editor to add one.</p>`
            : channels.length ? html`<p>Add one with <b>New rule</b>, e.g. failed runs of every workflow to your team's channel.</p>`
            : html`<p>Create a channel first, then a rule that sends events to it.</p>`}</${Empty}>`
      : html`<div class="table-wrap"><table class="list">
          <thead><tr><th>Name</th><th>Channel</th><th>Workflows</th><th>Events</th><th>State</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
          <tbody>${items.map((r) => html`<${RuleRow} key=${r.id} r=${r} channel=${names[r.channel_id]} onChange=${list.reload} />`)}</tbody>
        </table></div>`}
    ${adding ? html`<${RuleModal} channels=${channels} onClose=${() => setAdding(false)} onCreated=${() => { setAdding(false); list.reload(); }} />` : null}
  </section>`;
}

function scopeText(r) {
  if (r.scope === "workflow") return html`workflow <${Link} href=${`/workflows/${encodeURIComponent(r.scope_value)}`}>#${r.scope_value}</${Link}>`;
  if (r.scope === "tag") return html`tagged <span class="chip">#${r.scope_value}</span>`;
  return "all";
}

function RuleRow({ r, channel, onChange }) {
  const remove = async () => {
    if (!await ask({ title: `Delete the rule "${r.name}"?`, message: "It sends no more notifications.", action: "Delete", danger: true })) return;
    if ((await act(() => api(`/api/v1/rules/${r.id}`, { method: "DELETE" }), `Rule "${r.name}" deleted.`)) !== undefined) onChange();
  };
  const enable = async () => {
    if (await act(() => api(`/api/v1/rules/${r.id}`, { method: "PATCH", body: { enabled: !r.enabled } }))) onChange();
  };
  const manage = mayManage(r);
  return html`<tr data-rule=${r.name}>
    <td><b>${r.name}</b></td>
    <td>${channel || html`<small>#${r.channel_id}</small>`}</td>
    <td>${scopeText(r)}</td>
    <td>${r.events.map((e) => html`<code>${e}</code> `)}</td>
    <td>${manage ? html`<button class="link" title="Turn on or off" onClick=${enable}>${r.enabled ? "enabled" : "disabled"}</button>`
      : r.enabled ? "enabled" : html`<small>disabled</small>`}</td>
    <td>${manage ? html`<button class="danger" onClick=${remove}>Delete</button>` : null}</td>
  </tr>`;
}

function RuleModal({ channels, onClose, onCreated }) {
  const [scope, setScope] = useState("all");
  const form = useForm(async (f) => {
    const body = { name: f.get("name").trim(), channel_id: Number(f.get("channel_id")), scope,
                   scope_value: scope === "all" ? null : blank(f.get("scope_value")) ?? null,
                   events: f.getAll("events"), enabled: f.get("enabled") === "on" };
    if (!body.events.length) throw invalid("events", "choose at least one event");
    const rule = await api("/api/v1/rules", { method: "POST", body });
    toast(`Rule "${rule.name}" created.`);
    onCreated();
  });
  const fe = form.fe;
  return html`<${Modal} title="New rule" onClose=${onClose}>
    <form onSubmit=${form.onSubmit} data-testid="new-rule">
      <div class="row" style=${TOP}>
        <${Field} id="rule-name" name="name" label="Name" fe=${fe}><input id="rule-name" name="name" required maxlength="100" autocomplete="off" /></${Field}>
        <${Field} id="rule-channel" name="channel_id" label="Channel" fe=${fe}>
          <select id="rule-channel" name="channel_id">${channels.map((c) => html`<option value=${c.id}>${c.name} (${c.kind})${c.enabled ? "" : " – disabled"}</option>`)}</select></${Field}>
      </div>
      <div class="row" style=${TOP}>
        <${Field} id="rule-scope" name="scope" label="Workflows" fe=${fe}>
          <select id="rule-scope" value=${scope} onChange=${(e) => setScope(e.target.value)}>
            <option value="all">All workflows</option><option value="workflow">One workflow</option><option value="tag">Workflows with a tag</option>
          </select></${Field}>
        ${scope === "all" ? null : html`<${Field} id="rule-value" name="scope_value" label=${scope === "tag" ? "Tag" : "Workflow name or id"} fe=${fe}>
          <input id="rule-value" name="scope_value" autocomplete="off" placeholder=${scope === "tag" ? "nightly" : "train"} /></${Field}>`}
      </div>
      <div class=${under(fe, "events").length ? "field invalid" : "field"}>
        <span class="label">Events</span>
        <div style="display:flex;flex-direction:column;gap:4px">${EVENTS.map(([id, label]) => html`<label>
          <input type="checkbox" name="events" value=${id} checked=${id === "run.failed"} /> ${label} <small><code>${id}</code></small></label>`)}</div>
        <${FieldError} messages=${under(fe, "events")} />
      </div>
      <label><input type="checkbox" name="enabled" checked /> Enabled</label>
      <${ErrorBox} error=${leftover(form.error, ["name", "channel_id", "scope", "scope_value", "events", "enabled"])} />
      <footer><button type="button" onClick=${onClose}>Cancel</button>
        <button class="primary" type="submit" disabled=${form.busy}>${form.busy ? "Creating…" : "Create rule"}</button></footer>
    </form>
  </${Modal}>`;
}
