// The run's timeline: one row per task, one bar per attempt, from the attempts' start and end.
import { html, duration } from "./ui.js";

const ROW = 18;
const LABEL = 150;

export function Gantt({ run, now }) {
  const tasks = run.tasks.filter((t) => t.attempts.some((a) => a.started_at));
  const t0 = Date.parse(run.started_at || run.created_at);
  const end = run.finished_at ? Date.parse(run.finished_at) : now;
  const span = Math.max(1, end - t0);
  const width = 900;
  const x = (iso) => LABEL + ((Date.parse(iso) - t0) / span) * (width - LABEL - 10);
  if (!tasks.length) return html`<p class="muted">Bars appear here as tasks start.</p>`;
  const rows = tasks.map((t) => ({ t, first: Math.min(...t.attempts.filter((a) => a.started_at).map((a) => Date.parse(a.started_at))) }))
    .sort((a, b) => a.first - b.first);
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return html`<div class="gantt" data-testid="gantt">
    <svg width="100%" viewBox=${`0 0 ${width} ${rows.length * ROW + 24}`} preserveAspectRatio="xMinYMin meet" style=${`min-width:600px;height:${rows.length * ROW + 24}px`}>
      ${ticks.map((f) => html`<g><line class="axis" x1=${LABEL + f * (width - LABEL - 10)} x2=${LABEL + f * (width - LABEL - 10)} y1="0" y2=${rows.length * ROW + 6} />
        <text x=${LABEL + f * (width - LABEL - 10)} y=${rows.length * ROW + 20} text-anchor=${f === 1 ? "end" : f === 0 ? "start" : "middle"}>${duration((span * f) / 1000)}</text></g>`)}
      ${rows.map(({ t }, i) => html`<g data-task=${t.key}>
        <text x="4" y=${i * ROW + 13}>${t.key.length > 20 ? t.key.slice(0, 19) + "…" : t.key}</text>
        ${t.attempts.filter((a) => a.started_at).map((a) => {
          const x1 = x(a.started_at), x2 = a.finished_at ? x(a.finished_at) : x(new Date(end).toISOString());
          return html`<rect class=${`bar s-${a.status}`} x=${x1} y=${i * ROW + 3} width=${Math.max(2, x2 - x1)} height=${ROW - 6}>
            <title>${t.key} attempt ${a.attempt}: ${a.status}, ${duration(a.duration ?? (Date.parse(a.finished_at || new Date(end).toISOString()) - Date.parse(a.started_at)) / 1000)}</title></rect>`;
        })}
      </g>`)}
    </svg>
  </div>`;
}
