// Which task the run page shows: the one in the address (?task=), else, on a run seen going
// on, the running task that started last (or, between tasks, the one that started last),
// followed from task to task until the user picks one themselves; else the first task.
import { useEffect, useRef, useState } from "preact/hooks";
import { FINISHED } from "./ui.js";

const enc = encodeURIComponent;

/** The task that started last among those running, else among all that started, or null.
 * A task can start and end between two looks at the run (a quick `echo`): the panel still
 * moves on to it rather than staying on the one before. */
export function runningTask(run) {
  return lastStarted(run.tasks.filter((t) => t.status === "running")) || lastStarted(run.tasks);
}

function lastStarted(tasks) {
  let best = null, when = "";
  for (const t of tasks) {
    const started = t.attempts[t.attempts.length - 1]?.started_at;
    if (started && started >= when) { best = t.key; when = started; }
  }
  return best;
}

/** [selected task key, select(key) for the user's own pick]. */
export function useFollow(run, runId) {
  const fromAddress = new URLSearchParams(location.search).get("task");
  const [selected, setSelected] = useState(fromAddress);
  const picked = useRef(fromAddress !== null);
  const live = useRef(false); // seen going on: follow it to its end
  useEffect(() => {
    if (!run || picked.current) return;
    live.current = live.current || !FINISHED.has(run.status);
    const next = (live.current && runningTask(run)) || selected || run.tasks[0]?.key || null;
    if (next !== selected) setSelected(next);
  }, [run]);
  const select = (key) => {
    picked.current = true;
    setSelected(key);
    history.replaceState(null, "", `/runs/${runId}?task=${enc(key)}`);
  };
  return [selected, select];
}
