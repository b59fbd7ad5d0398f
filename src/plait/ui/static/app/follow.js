// Which task the run page shows: the one in the address (?task=), else, while the run goes
// on, the running task that started last, followed from task to task until the user picks
// one themselves.
import { useEffect, useRef, useState } from "preact/hooks";

const enc = encodeURIComponent;

/** The running task that started last, or null. */
export function runningTask(run) {
  let best = null, when = "";
  for (const t of run.tasks) {
    const a = t.attempts[t.attempts.length - 1];
    if (t.status === "running" && (a?.started_at || "") >= when) { best = t.key; when = a?.started_at || ""; }
  }
  return best;
}

/** [selected task key, select(key) for the user's own pick]. */
export function useFollow(run, runId) {
  const fromAddress = new URLSearchParams(location.search).get("task");
  const [selected, setSelected] = useState(fromAddress);
  const picked = useRef(fromAddress !== null);
  useEffect(() => {
    if (!run || picked.current) return;
    const next = runningTask(run) || selected || run.tasks[0]?.key || null;
    if (next !== selected) setSelected(next);
  }, [run]);
  const select = (key) => {
    picked.current = true;
    setSelected(key);
    history.replaceState(null, "", `/runs/${runId}?task=${enc(key)}`);
  };
  return [selected, select];
}
