// The run's timeline: one row per task, one bar per attempt, from the attempts' start and end.
// While the run goes on, the time axis grows in steps (1, 2, 5 × 10ⁿ seconds), so most ticks of
// the clock redraw only the bars still running; rows whose task did not change are skipped.
import { useState } from "preact/hooks";
import { html, duration, memo, useInterval } from "./ui.js";

const ROW = 18;
const LABEL = 150;
const WIDTH = 900;
const TICKS = [0, 0.25, 0.5, 0.75, 1];

/** The smallest 1, 2 or 5 × 10ⁿ seconds (in ms) that holds `ms`. */
function roomy(ms) {
  const s = Math.max(ms / 1000, 1);
  const p = 10 ** Math.floor(Math.log10(s));
  return 1000 * p * ([1, 2, 5, 10].find((m) => m * p >= s));
}

const Row = memo(({ task, index, t0, span, now }) => {
  const x = (ms) => LABEL + ((ms - t0) / span) * (WIDTH - LABEL - 10);
  return html`<g data-task=${task.key}>
    <text x="4" y=${index * ROW + 13}>${task.key.length > 20 ? task.key.slice(0, 19) + "…" : task.key}</text>
    ${task.attempts.filter((a) => a.started_at).map((a) => {
      const start = Date.parse(a.started_at);
      const end = a.finished_at ? Date.parse(a.finished_at) : now;
      return html`<rect class=${`bar s-${a.status}`} x=${x(start)} y=${index * ROW + 3} width=${Math.max(2, x(end) - x(start))} height=${ROW - 6}>
        <title>${task.key} attempt ${a.attempt}: ${a.status}, ${duration((end - start) / 1000)}</title></rect>`;
    })}
  </g>`;
});

function running(task) { return task.attempts.some((a) => a.started_at && !a.finished_at); }

export function Gantt({ run }) {
  const [now, setNow] = useState(Date.now());
  useInterval(() => setNow(Date.now()), run.finished_at ? null : 1000);
  const tasks = run.tasks.filter((t) => t.attempts.some((a) => a.started_at));
  if (!tasks.length) return html`<p class="muted">Bars appear here as tasks start.</p>`;
  const t0 = Date.parse(run.started_at || run.created_at);
  const end = run.finished_at ? Date.parse(run.finished_at) : now;
  const span = run.finished_at ? Math.max(1, end - t0) : roomy(end - t0);
  const first = (t) => Math.min(...t.attempts.filter((a) => a.started_at).map((a) => Date.parse(a.started_at)));
  const rows = tasks.map((t) => [first(t), t]).sort((a, b) => a[0] - b[0]).map(([, t]) => t);
  const height = rows.length * ROW;
  return html`<div class="gantt" data-testid="gantt" tabindex="0" role="region" aria-label="Timeline of the tasks">
    <svg width="100%" viewBox=${`0 0 ${WIDTH} ${height + 24}`} preserveAspectRatio="xMinYMin meet" style=${`min-width:600px;height:${height + 24}px`}>
      ${TICKS.map((f) => html`<g><line class="axis" x1=${LABEL + f * (WIDTH - LABEL - 10)} x2=${LABEL + f * (WIDTH - LABEL - 10)} y1="0" y2=${height + 6} />
        <text x=${LABEL + f * (WIDTH - LABEL - 10)} y=${height + 20} text-anchor=${f === 1 ? "end" : f === 0 ? "start" : "middle"}>${duration((span * f) / 1000)}</text></g>`)}
      ${rows.map((t, i) => html`<${Row} key=${t.key} task=${t} index=${i} t0=${t0} span=${span} now=${running(t) ? now : 0} />`)}
    </svg>
  </div>`;
}
