// A model version's export panel on a page of its own (until the model version page mounts it).
import { html, title, Link } from "../ui.js";
import { ExportPanel } from "../exports.js";

export function ModelExportPage({ name, version }) {
  title(`Export ${name} v${version}`);
  return html`<div class="page">
    <div class="crumbs">Models / ${name} / version ${version}</div>
    <div class="page-head"><h1>Export ${name} version ${version}</h1></div>
    <${ExportPanel} model=${name} version=${version} />
  </div>`;
}
