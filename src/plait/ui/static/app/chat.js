// "Describe a run": say in plain words what to run; the proposal comes back as the trigger
// form (the same params form), which can still be edited before pressing Run.
import { useRef, useState } from "preact/hooks";
import { api } from "./api.js";
import { html, Modal, ErrorBox, fieldErrors, navigate, canEdit } from "./ui.js";
import { ParamsForm, defaults } from "./params.js";

const newKey = () => (globalThis.crypto?.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`);

function Proposal({ proposal }) {
  const what = proposal.kind === "template"
    ? html`the template <strong>${proposal.template}</strong> <span class="muted">(made into a new workflow, then run)</span>`
    : html`the workflow <strong>${proposal.workflow}</strong>`;
  return html`<p>Run ${what}${proposal.dataset ? html` on dataset <strong>${proposal.dataset.name}</strong> version ${proposal.dataset.version ?? "?"}` : null}.</p>
    ${proposal.not_understood.length ? html`<p class="muted">Not understood: ${proposal.not_understood.map((s) => `“${s}”`).join(", ")}</p>` : null}`;
}

export function ChatPanel({ onClose }) {
  const [sessionId, setSessionId] = useState(null);
  const [log, setLog] = useState([]);
  const [proposal, setProposal] = useState(null);
  const [questions, setQuestions] = useState([]);
  const [value, setValue] = useState({});
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const key = useRef(newKey());

  const started = (runId) => { onClose(); navigate(`/runs/${runId}`); };
  const send = async (e) => {
    e.preventDefault();
    const text = message.trim();
    if (!text || busy) return;
    setBusy(true);
    setError(null);
    try {
      const answer = await api("/api/v1/chat", { method: "POST", body: { message: text, session_id: sessionId ?? undefined } });
      setSessionId(answer.session_id);
      setLog((l) => [...l, { role: "you", text }, { role: "plait", text: answer.reply }]);
      setMessage("");
      if (answer.run_id) return started(answer.run_id);
      setQuestions(answer.questions);
      setProposal(answer.proposal);
      if (answer.proposal) setValue({ ...defaults(answer.proposal.params_schema), ...answer.proposal.params });
      key.current = newKey(); // a new proposal: a new run; the same one clicked twice: one run
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  const run = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const answer = await api(`/api/v1/chat/sessions/${sessionId}/confirm`,
        { method: "POST", body: { params: value }, headers: { "Idempotency-Key": key.current } });
      started(answer.run_id);
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  const errors = fieldErrors(error, []);
  return html`<${Modal} title="Describe a run" onClose=${onClose} wide>
    <div class="chat">
      <ol class="chat-log" aria-label="Conversation" aria-live="polite">
        ${log.map((m) => html`<li class=${`chat-${m.role}`}><strong>${m.role === "you" ? "You" : "Plait"}:</strong> ${m.text}</li>`)}
      </ol>
      ${questions.length ? html`<ul class="chat-questions" data-testid="chat-questions" aria-label="Questions">${questions.map((q) => html`<li>${q}</li>`)}</ul>` : null}
      <form class="chat-say" onSubmit=${send}>
        <label for="chat-message">What should run?</label>
        <div class="row">
          <input id="chat-message" name="message" maxlength="2000" autocomplete="off" value=${message}
            placeholder="train the iris classifier with 200 trees on dataset flowers v2"
            onInput=${(e) => setMessage(e.target.value)} autofocus />
          <button type="submit" disabled=${busy}>Send</button>
        </div>
      </form>
      ${proposal ? html`<form class="chat-proposal" data-testid="chat-proposal" onSubmit=${run} novalidate>
        <h3>Proposed run</h3>
        <${Proposal} proposal=${proposal} />
        <${ParamsForm} schema=${proposal.params_schema} value=${value} onChange=${setValue} errors=${errors} />
        ${canEdit() ? null : html`<p class="muted">Starting a run needs the editor role.</p>`}
        <footer><button class="primary" type="submit" disabled=${busy || !canEdit()}>Run</button></footer>
      </form>` : null}
      ${error && !error.errors?.length ? html`<${ErrorBox} error=${error} />` : null}
    </div>
  </${Modal}>`;
}
