// Tabs as assistive technology expects them (WAI-ARIA "tabs" pattern): a tablist of tab
// buttons, the selected one aria-selected and the only one in the Tab order; the arrow keys,
// Home and End move between tabs (and select them); the content is a labelled tabpanel.
import { h } from "preact";
import htm from "htm";

const html = htm.bind(h);

const tabId = (id, tab) => `${id}-tab-${tab}`;
const panelId = (id) => `${id}-panel`;
const STEP = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };

/** tabs: [[key, label], ...]; id: unique on the page (it names the tabs and their panel). */
export function Tabs({ id, label, tabs, current, onSelect, class: cls = "tabs", style }) {
  const keys = tabs.map(([key]) => key);
  const onKeyDown = (e) => {
    const at = keys.indexOf(current);
    const to = e.key === "Home" ? 0 : e.key === "End" ? keys.length - 1
      : e.key in STEP ? (at + STEP[e.key] + keys.length) % keys.length : null;
    if (to === null) return;
    e.preventDefault();
    onSelect(keys[to]);
    document.getElementById(tabId(id, keys[to]))?.focus();
  };
  return html`<div class=${cls} style=${style} role="tablist" aria-label=${label} onKeyDown=${onKeyDown}>
    ${tabs.map(([key, text]) => html`<button type="button" role="tab" id=${tabId(id, key)}
      aria-selected=${key === current ? "true" : "false"} aria-controls=${panelId(id)}
      tabIndex=${key === current ? 0 : -1} class=${key === current ? "active" : ""}
      onClick=${() => onSelect(key)}>${text}</button>`)}
  </div>`;
}

/** The content of the selected tab of <Tabs id=...>. */
export function TabPanel({ id, current, children }) {
  return html`<div role="tabpanel" id=${panelId(id)} aria-labelledby=${tabId(id, current)}>${children}</div>`;
}
