// The app shell: routing, the top bar, theme, keyboard shortcuts, connection banners.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { getSession, onSession, onNetwork, logout } from "./api.js";
import { onStatus } from "./live.js";
import { html, Link, navigate, onRoute, Modal, Toasts, Spinner, ErrorBox, title } from "./ui.js";
import { ChatPanel } from "./chat.js";

// Each page is loaded when first visited, so the workflows list does not wait for the code
// editor, the graph layout and the charts that other pages use.
const pages = {
  login: () => import("./pages/login.js"),
  workflows: () => import("./pages/workflows.js"),
  overview: () => import("./pages/overview.js"),
  workflow: () => import("./pages/workflow.js"),
  runs: () => import("./pages/runs.js"),
  run: () => import("./pages/run.js"),
  compare: () => import("./pages/compare.js"),
  settings: () => import("./pages/settings.js"),
  workers: () => import("./pages/workers.js"),
  templates: () => import("./pages/templates.js"),
  sweep: () => import("./pages/sweep.js"),
  datasets: () => import("./pages/datasets.js"),
  models: () => import("./pages/models.js"),
  model_export: () => import("./pages/model_export.js"),
  deployments: () => import("./pages/deployments.js"),
};

// [path pattern, page module, its export, props from the match]
const ROUTES = [
  [/^\/login$/, "login", "LoginPage", () => ({})],
  [/^\/overview$/, "overview", "OverviewPage", () => ({})],
  [/^\/workflows$/, "workflows", "WorkflowsPage", () => ({})],
  [/^\/workflows\/new$/, "workflow", "NewWorkflowPage", () => ({})],
  [/^\/workflows\/([^/]+)$/, "workflow", "WorkflowPage", (m) => ({ key: m[1], ref_: decodeURIComponent(m[1]) })],
  [/^\/runs$/, "runs", "RunsPage", () => ({})],
  [/^\/runs\/(\d+)$/, "run", "RunPage", (m) => ({ key: m[1], id: Number(m[1]) })],
  [/^\/compare$/, "compare", "ComparePage", () => ({})],
  [/^\/settings$/, "settings", "SettingsPage", () => ({})],
  [/^\/workers$/, "workers", "WorkersPage", () => ({})],
  [/^\/templates$/, "templates", "TemplatesPage", () => ({})],
  [/^\/sweeps\/(\d+)$/, "sweep", "SweepPage", (m) => ({ key: m[1], id: Number(m[1]) })],
  [/^\/datasets$/, "datasets", "DatasetsPage", () => ({})],
  [/^\/datasets\/([^/]+)$/, "datasets", "DatasetPage", (m) => ({ key: m[1], name: decodeURIComponent(m[1]) })],
  [/^\/models$/, "models", "ModelsPage", () => ({})],
  [/^\/models\/([^/]+)$/, "models", "ModelPage", (m) => ({ key: m[1], name: decodeURIComponent(m[1]) })],
  [/^\/models\/([^/]+)\/versions\/(\d+)\/export$/, "model_export", "ModelExportPage", (m) => ({ key: m[0], name: decodeURIComponent(m[1]), version: Number(m[2]) })],
  [/^\/deployments$/, "deployments", "DeploymentsPage", () => ({})],
  [/^\/deployments\/([^/]+)$/, "deployments", "DeploymentPage", (m) => ({ key: m[1], name: decodeURIComponent(m[1]) })],
];

const loaded = {};
function Page({ module, name, props }) {
  const [, setReady] = useState(0);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (loaded[module]) return;
    pages[module]().then((m) => { loaded[module] = m; setReady((n) => n + 1); },
      () => setError({ title: "This page could not be loaded.", message: "Is the server reachable? Reload to try again." }));
  }, [module]);
  if (error) return html`<div class="page"><${ErrorBox} error=${error} /></div>`;
  const View = loaded[module]?.[name];
  return View ? html`<${View} ...${props} />` : html`<${Spinner} />`;
}

export const SHORTCUTS = [
  ["/", "Search"],
  ["g w", "Go to workflows"],
  ["g r", "Go to runs"],
  ["g s", "Go to settings"],
  ["t", "Trigger the workflow on screen"],
  ["?", "Show these shortcuts"],
  ["Esc", "Close a dialog"],
];

// --- theme: follows the system until toggled; the choice is remembered ---
function applyTheme(choice) {
  const dark = choice ? choice === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.dataset.theme = dark ? "dark" : "light";
  document.dispatchEvent(new CustomEvent("plait:theme"));
}
applyTheme(localStorage.getItem("plait.theme"));
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => applyTheme(localStorage.getItem("plait.theme")));
function toggleTheme() {
  const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  localStorage.setItem("plait.theme", next);
  applyTheme(next);
}

// --- keyboard shortcuts ---
function typing(e) {
  const t = e.target;
  return t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName) || t.closest?.(".cm-editor");
}
function useShortcuts(showHelp) {
  useEffect(() => {
    let pending = null;
    const onKey = (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) return;
      if (pending === "g") {
        pending = null;
        const to = { w: "/workflows", r: "/runs", s: "/settings" }[e.key];
        if (to) { e.preventDefault(); navigate(to); }
        return;
      }
      if (e.key === "g") pending = "g";
      else if (e.key === "/") {
        const box = document.querySelector("[data-search]");
        if (box) { e.preventDefault(); box.focus(); }
      } else if (e.key === "?") showHelp(true);
      else if (e.key === "t") document.dispatchEvent(new CustomEvent("plait:trigger"));
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, []);
}

function Help({ onClose }) {
  return html`<${Modal} title="Keyboard shortcuts" onClose=${onClose}>
    <table class="shortcuts">${SHORTCUTS.map(([k, what]) => html`<tr><td>${k.split(" ").map((x) => html`<kbd>${x}</kbd> `)}</td><td>${what}</td></tr>`)}</table>
  </${Modal}>`;
}

function Banners() {
  const [net, setNet] = useState(true);
  const [live, setLive] = useState("idle");
  useEffect(() => onNetwork(setNet), []);
  useEffect(() => onStatus(setLive), []);
  if (!net) return html`<div class="banner bad" role="alert">Cannot reach the Plait server. Retrying when you act again; check that it is running.</div>`;
  if (live === "reconnecting") return html`<div class="banner warn" role="status">Live updates interrupted; reconnecting…</div>`;
  return null;
}

function TopBar({ user, onHelp, onChat }) {
  const path = location.pathname;
  const tab = (href, label) => html`<${Link} href=${href} class=${path.startsWith(href) ? "active" : ""}>${label}</${Link}>`;
  return html`<header class="topbar">
    <${Link} href="/workflows" class="brand"><img src="/static/app/favicon.svg" alt="" width="22" height="22" /> Plait</${Link}>
    <nav>${tab("/overview", "Overview")}${tab("/workflows", "Workflows")}${tab("/runs", "Runs")}${tab("/templates", "Templates")}${tab("/datasets", "Datasets")}${tab("/models", "Models")}${tab("/deployments", "Deployments")}${tab("/workers", "Workers")}${tab("/settings", "Settings")}</nav>
    <div class="spacer"></div>
    <button class="ghost" data-testid="describe-run" onClick=${onChat}>Describe a run</button>
    <button class="icon" title="Toggle dark mode" aria-label="Toggle dark mode" onClick=${toggleTheme}>◐</button>
    <button class="icon" title="Keyboard shortcuts (?)" aria-label="Keyboard shortcuts" onClick=${onHelp}>?</button>
    <span class="who" data-role=${user.role}>${user.username} <small>${user.role}</small></span>
    <button class="ghost" onClick=${() => logout().then(() => navigate("/login"))}>Log out</button>
  </header>`;
}

/** Where the address should be for this session: logged out goes to /login (remembering the
 *  page), logged in skips it. Rewrites the address in place and returns the path. */
function redirect(session) {
  const path = location.pathname;
  if (!session && path !== "/login") {
    const next = path === "/" ? "" : `?next=${encodeURIComponent(path + location.search)}`;
    history.replaceState(null, "", `/login${next}`);
  } else if (session && (path === "/" || path === "/login")) {
    const next = new URLSearchParams(location.search).get("next");
    history.replaceState(null, "", next && next.startsWith("/") && !next.startsWith("//") ? next : "/workflows");
  }
  return location.pathname;
}

// Any path no route takes (the server answers every page path with this app).
function NotFound({ path }) {
  title("Not found");
  return html`<div class="page"><h1>Not found</h1><p>No page at <code>${path}</code>. <${Link} href="/workflows">Go to workflows</${Link}>.</p></div>`;
}

function App() {
  const [, setTick] = useState(0);
  const [session, setSession] = useState(getSession());
  const [help, setHelp] = useState(false);
  const [chat, setChat] = useState(false);
  useEffect(() => onRoute(() => setTick((n) => n + 1)), []);
  useEffect(() => onSession(setSession), []);
  useShortcuts(setHelp);

  const path = redirect(session);
  const route = ROUTES.map(([re, ...rest]) => [path.match(re), ...rest]).find(([m]) => m);
  const page = route ? html`<${Page} module=${route[1]} name=${route[2]} props=${route[3](route[0])} key=${route[1]} />` : html`<${NotFound} path=${path} />`;
  return html`
    ${session ? html`<${TopBar} user=${session.user} onHelp=${() => setHelp(true)} onChat=${() => setChat(true)} />` : null}
    <${Banners} />
    <main>${page}</main>
    ${help ? html`<${Help} onClose=${() => setHelp(false)} />` : null}
    ${chat && session ? html`<${ChatPanel} onClose=${() => setChat(false)} />` : null}
    <${Toasts} />`;
}

render(html`<${App} />`, document.getElementById("app"));
