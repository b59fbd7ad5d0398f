// The task graph: laid out once by dagre (left to right), drawn as SVG, coloured by status.
// Status changes only change classes, so a live 500-task run redraws cheaply.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { layout as dagreLayout, graphlib } from "@dagrejs/dagre";
import { html, memo } from "./ui.js";

const NODE_H = 34;
const CHAR_W = 7.4;

export function layoutGraph(tasks) {
  const g = new graphlib.Graph();
  // dagre's default ranking (network simplex) takes about a second for 500 tasks; tight-tree
  // takes a quarter of that and draws big graphs almost as compactly.
  const ranker = tasks.length > 150 ? "tight-tree" : "network-simplex";
  g.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 46, marginx: 16, marginy: 16, ranker });
  g.setDefaultEdgeLabel(() => ({}));
  const keys = new Set(tasks.map((t) => t.key));
  for (const t of tasks) g.setNode(t.key, { width: Math.max(70, 28 + t.key.length * CHAR_W), height: NODE_H });
  for (const t of tasks) for (const d of t.depends_on || []) if (keys.has(d)) g.setEdge(d, t.key);
  dagreLayout(g);
  const nodes = g.nodes().map((k) => ({ key: k, ...g.node(k) }));
  const edges = g.edges().map((e) => ({ from: e.v, to: e.w, points: g.edge(e).points }));
  const { width, height } = g.graph();
  return { nodes, edges, width: width || 100, height: height || 60 };
}

function edgePath(points) {
  const [first, ...rest] = points;
  return `M${first.x},${first.y} ` + rest.map((p) => `L${p.x},${p.y}`).join(" ");
}

// A live run changes a few nodes at a time; the others are skipped.
// A graph that selects tasks makes each node a button, in the Tab order (Enter or Space).
const Node = memo(({ n, status, selected, focusable }) => html`<g class=${`node s-${status || "none"} ${selected ? "selected" : ""}`}
    data-task=${n.key} data-status=${status || ""} transform=${`translate(${n.x - n.width / 2},${n.y - n.height / 2})`}
    tabindex=${focusable ? 0 : undefined} role=${focusable ? "button" : undefined}
    aria-label=${focusable ? `${n.key}${status ? `, ${status.replace("_", " ")}` : ""}` : undefined} aria-pressed=${focusable ? String(!!selected) : undefined}>
  <rect width=${n.width} height=${n.height} rx="7" />
  <text x="12" y=${NODE_H / 2 + 4}>${n.key}</text>
  <title>${n.key}${status ? `: ${status}` : ""}</title>
</g>`);

/** tasks: [{key, depends_on}]; statuses: {key: status}; onSelect(key). */
export function Dag({ tasks, statuses = {}, selected, onSelect, height = 420 }) {
  const shape = useMemo(() => layoutGraph(tasks), [tasks.map((t) => `${t.key}<${(t.depends_on || []).join(",")}`).join(";")]);
  // The same vnodes while the shape is the same: Preact skips them without diffing.
  const edges = useMemo(() => shape.edges.map((e) => html`<path class="edge" d=${edgePath(e.points)} marker-end="url(#arrow)" />`), [shape]);
  const box = useRef(null);
  const [view, setView] = useState(null); // {x, y, k}
  const drag = useRef(null);

  // Fit the graph into the box whenever its shape changes.
  const fit = () => {
    const el = box.current;
    if (!el) return;
    const k = Math.min(1.4, el.clientWidth / shape.width, el.clientHeight / shape.height);
    setView({ k, x: (el.clientWidth - shape.width * k) / 2, y: (el.clientHeight - shape.height * k) / 2 });
  };
  useEffect(fit, [shape]);

  const zoom = (factor, cx, cy) => setView((v) => {
    const k = Math.min(4, Math.max(0.05, v.k * factor));
    const f = k / v.k;
    return { k, x: cx - (cx - v.x) * f, y: cy - (cy - v.y) * f };
  });
  const onWheel = (e) => {
    e.preventDefault();
    const r = box.current.getBoundingClientRect();
    zoom(e.deltaY < 0 ? 1.15 : 1 / 1.15, e.clientX - r.left, e.clientY - r.top);
  };
  useEffect(() => {
    const el = box.current;
    el.addEventListener("wheel", onWheel, { passive: false });
    return () => el.removeEventListener("wheel", onWheel);
  }, []);
  const down = (e) => { if (e.button === 0) drag.current = { x: e.clientX, y: e.clientY }; };
  const move = (e) => {
    if (!drag.current) return;
    const dx = e.clientX - drag.current.x, dy = e.clientY - drag.current.y;
    drag.current = { x: e.clientX, y: e.clientY };
    setView((v) => ({ ...v, x: v.x + dx, y: v.y + dy }));
  };
  const up = () => { drag.current = null; };

  const counts = {};
  for (const s of Object.values(statuses)) counts[s] = (counts[s] || 0) + 1;
  const transform = view ? `translate(${view.x},${view.y}) scale(${view.k})` : "";
  // One click handler for every node (nodes stay memoised: no callback props).
  const click = (e) => { const node = e.target.closest?.("[data-task]"); if (node) onSelect?.(node.dataset.task); };
  const key = (e) => { if ((e.key === "Enter" || e.key === " ") && e.target.closest?.("[data-task]")) { e.preventDefault(); click(e); } };
  return html`<div class="dag" ref=${box} style=${`height:${height}px`} data-testid="dag"
      onMouseDown=${down} onMouseMove=${move} onMouseUp=${up} onMouseLeave=${up} onClick=${click} onKeyDown=${key}>
    <svg role=${onSelect ? "group" : "img"} aria-label=${`Task graph, ${tasks.length} tasks`}>
      <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">
        <path d="M 0 0 L 10 5 L 0 10 z" fill="currentColor" class="arrowhead" /></marker></defs>
      <g transform=${transform} style=${view ? "" : "visibility:hidden"}>
        ${edges}
        ${shape.nodes.map((n) => html`<${Node} key=${n.key} n=${n} status=${statuses[n.key]} selected=${selected === n.key} focusable=${!!onSelect} />`)}
      </g>
    </svg>
    <div class="zoom">
      <button type="button" title="Zoom in" aria-label="Zoom in" onClick=${() => zoom(1.25, box.current.clientWidth / 2, box.current.clientHeight / 2)}>+</button>
      <button type="button" title="Zoom out" aria-label="Zoom out" onClick=${() => zoom(0.8, box.current.clientWidth / 2, box.current.clientHeight / 2)}>−</button>
      <button type="button" title="Fit the graph" onClick=${fit}>Fit</button>
    </div>
    ${Object.keys(counts).length ? html`<div class="legend">${Object.entries(counts).map(([s, n]) => `${n} ${s.replace("_", " ")}`).join(" · ")}</div>` : null}
  </div>`;
}
