import { useState } from "preact/hooks";
import { login } from "../api.js";
import { html, ErrorBox, title } from "../ui.js";

export function LoginPage() {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  title("Log in");
  const submit = async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    setBusy(true);
    setError(null);
    try {
      await login(form.get("username"), form.get("password")); // the shell then leaves /login
    } catch (err) {
      setError(err.status === 401 ? { title: "Wrong username or password.", message: "" } : err);
    } finally {
      setBusy(false);
    }
  };
  return html`<div class="login card">
    <h1 class="brand"><img src="/static/app/favicon.svg" alt="" width="30" height="30" /> Plait</h1>
    <form onSubmit=${submit}>
      <div class="field"><label for="username">Username</label>
        <input id="username" name="username" autocomplete="username" required autofocus /></div>
      <div class="field"><label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required /></div>
      <${ErrorBox} error=${error} />
      <button class="primary" type="submit" disabled=${busy} style="width:100%;justify-content:center">${busy ? "Logging in…" : "Log in"}</button>
    </form>
    <p class="muted" style="margin-top:14px;font-size:12.5px">The first admin's password was printed once when the server first started; <code>plait passwd</code> changes it.</p>
  </div>`;
}
