// One WebSocket for the whole page: topic subscriptions with handlers, reconnection with
// backoff, and replay of missed events (`since`) so a reconnect loses nothing.
import { freshToken } from "./api.js";

const handlers = new Map(); // topic -> Set(fn)
const statusListeners = new Set();
let socket = null;
let lastId = null;
let backoff = 500;
let timer = null;
export let status = "idle";

function setStatus(s) { status = s; statusListeners.forEach((fn) => fn(s)); }
export const onStatus = (fn) => { statusListeners.add(fn); return () => statusListeners.delete(fn); };

async function connect() {
  if (socket || handlers.size === 0) return;
  const token = await freshToken();
  if (!token) return;
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/ws?token=${encodeURIComponent(token)}`);
  socket = ws;
  setStatus("connecting");
  ws.onopen = () => {
    backoff = 500;
    setStatus("live");
    send({ op: "subscribe", topics: [...handlers.keys()], ...(lastId !== null ? { since: lastId } : {}) });
  };
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.op !== "event") return;
    lastId = Math.max(lastId ?? 0, msg.id);
    for (const topic of topicsOf(msg)) handlers.get(topic)?.forEach((fn) => fn(msg));
  };
  ws.onclose = (e) => {
    socket = null;
    if (handlers.size === 0) { setStatus("idle"); return; }
    setStatus(e.code === 4401 ? "unauthenticated" : "reconnecting");
    clearTimeout(timer);
    timer = setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 10_000);
  };
}

function topicsOf(msg) {
  const out = ["*"];
  if (msg.run_id != null) out.push(`run:${msg.run_id}`);
  if (msg.workflow_id != null) out.push(`workflow:${msg.workflow_id}`);
  return out;
}

function send(obj) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(obj));
}

/** Call `fn` with every event of `topic` from now on; returns the unsubscribe function.
 *  `since` (an event id) replays what happened after it first. */
export function subscribe(topic, fn, since) {
  const first = !handlers.has(topic);
  if (first) handlers.set(topic, new Set());
  handlers.get(topic).add(fn);
  if (since != null && (lastId === null || since < lastId)) lastId = since;
  if (!socket) connect();
  else if (first) send({ op: "subscribe", topics: [topic], ...(since != null ? { since } : {}) });
  return () => {
    const set = handlers.get(topic);
    set?.delete(fn);
    if (set && set.size === 0) {
      handlers.delete(topic);
      send({ op: "unsubscribe", topics: [topic] });
      if (handlers.size === 0 && socket) socket.close(1000);
    }
  };
}
