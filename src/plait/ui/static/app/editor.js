// CodeMirror 6 as a Preact component, and a side-by-side diff (CodeMirror's MergeView).
import { useEffect, useRef } from "preact/hooks";
import { EditorState, Compartment, Annotation } from "@codemirror/state";
import { EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection } from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { syntaxHighlighting, HighlightStyle, indentOnInput, bracketMatching, StreamLanguage, indentUnit } from "@codemirror/language";
import { tags as t } from "@lezer/highlight";
import { python } from "@codemirror/lang-python";
import { json } from "@codemirror/lang-json";
import { shell } from "@codemirror/legacy-modes/mode/shell";
import { yaml } from "@codemirror/legacy-modes/mode/yaml";
import { MergeView } from "@codemirror/merge";
import { html } from "./ui.js";

// Colours come from CSS variables, so the editor follows the light/dark theme by itself.
const highlight = HighlightStyle.define([
  { tag: [t.keyword, t.controlKeyword, t.definitionKeyword, t.moduleKeyword], color: "var(--hl-keyword)", fontWeight: "600" },
  { tag: [t.string, t.special(t.string)], color: "var(--hl-string)" },
  { tag: [t.number, t.bool, t.null, t.atom], color: "var(--hl-number)" },
  { tag: [t.comment, t.lineComment, t.blockComment], color: "var(--hl-comment)", fontStyle: "italic" },
  { tag: [t.function(t.variableName), t.function(t.propertyName), t.definition(t.function(t.variableName))], color: "var(--hl-function)" },
  { tag: [t.className, t.typeName, t.definition(t.className)], color: "var(--hl-type)" },
  { tag: [t.propertyName, t.attributeName], color: "var(--hl-property)" },
  { tag: [t.operator, t.punctuation], color: "var(--hl-operator)" },
]);

const LANGUAGES = {
  python: () => python(),
  json: () => json(),
  shell: () => StreamLanguage.define(shell),
  yaml: () => StreamLanguage.define(yaml),
  text: () => [],
};

const theme = EditorView.theme({
  "&": { backgroundColor: "var(--panel)", color: "var(--text)" },
  ".cm-gutters": { backgroundColor: "var(--panel-2)", color: "var(--muted)", borderRight: "1px solid var(--border)" },
  ".cm-activeLine": { backgroundColor: "color-mix(in srgb, var(--accent) 7%, transparent)" },
  ".cm-activeLineGutter": { backgroundColor: "color-mix(in srgb, var(--accent) 14%, transparent)" },
  ".cm-cursor": { borderLeftColor: "var(--text)" },
  "&.cm-focused .cm-selectionBackground, .cm-selectionBackground": { backgroundColor: "color-mix(in srgb, var(--accent) 28%, transparent) !important" },
});

function extensions(language, readOnly, onChange) {
  const list = [
    lineNumbers(), highlightActiveLineGutter(), drawSelection(), history(), indentOnInput(),
    bracketMatching(), highlightActiveLine(), indentUnit.of("    "), EditorState.tabSize.of(4),
    syntaxHighlighting(highlight), theme, EditorView.lineWrapping,
    keymap.of([indentWithTab, ...defaultKeymap, ...historyKeymap]),
    (LANGUAGES[language] || LANGUAGES.text)(),
  ];
  if (readOnly) list.push(EditorState.readOnly.of(true), EditorView.editable.of(false));
  if (onChange) list.push(EditorView.updateListener.of((u) => ownEdit(u) && onChange(u.state.doc.toString())));
  return list;
}

// Marks a document replaced from outside (the `value` prop), so it is not reported as an edit.
const fromOutside = Annotation.define();
const ownEdit = (u) => u.docChanged && !u.transactions.some((tr) => tr.annotation(fromOutside));
// The texts an editor reported that have not come back as its `value` yet. A parent that
// ignores onChange never sends them back, so only the newest few are remembered.
const PENDING_MAX = 64;

/**
 * Apply `value` to `view` unless this editor produced it. The parent renders after an edit and
 * its effect runs later still (after a frame), so a key typed in between makes an older text
 * of the editor's own arrive as `value`. Applying it undid the key and reported the undo, and
 * the two renders chased each other for good: the frozen tab. So a text the editor reported is
 * never written back, however late it arrives; any other text replaces the document silently.
 */
function applyValue(view, pending, value) {
  const seen = pending.indexOf(value);
  if (seen >= 0) {
    pending.splice(0, seen + 1); // its own text, and the older ones it overtook
    return;
  }
  pending.length = 0;
  const current = view.state.doc.toString();
  if (value !== current) {
    view.dispatch({ changes: { from: 0, to: current.length, insert: value }, annotations: fromOutside.of(true) });
  }
}

/**
 * A code editor; edits call `onChange(text)`. A `value` from outside replaces the text; the
 * editor's own texts coming back as `value` are never applied again (see applyValue).
 */
export function CodeEditor({ value, language = "python", onChange, readOnly = false, label, id }) {
  const host = useRef(null);
  const view = useRef(null);
  const changed = useRef(onChange);
  changed.current = onChange;
  const config = useRef(new Compartment());
  const pending = useRef([]);
  const report = (text) => {
    pending.current.push(text);
    if (pending.current.length > PENDING_MAX) pending.current.shift();
    changed.current?.(text);
  };

  useEffect(() => {
    view.current = new EditorView({
      parent: host.current,
      state: EditorState.create({ doc: value || "", extensions: config.current.of(extensions(language, readOnly, report)) }),
    });
    if (label) view.current.contentDOM.setAttribute("aria-label", label);
    if (id) view.current.contentDOM.id = id;
    return () => view.current.destroy();
  }, []);
  useEffect(() => {
    view.current.dispatch({ effects: config.current.reconfigure(extensions(language, readOnly, report)) });
  }, [language, readOnly]);
  useEffect(() => applyValue(view.current, pending.current, value || ""), [value]);
  return html`<div class="code-editor" ref=${host} data-language=${language}></div>`;
}

const named = (label) => EditorView.contentAttributes.of({ "aria-label": label });

/** Two texts side by side with their differences marked; unchanged stretches collapsed. */
export function Diff({ a, b, language = "yaml", labels = ["Older version", "Newer version"] }) {
  const host = useRef(null);
  useEffect(() => {
    const ext = extensions(language, true, null);
    const merge = new MergeView({
      parent: host.current,
      a: { doc: a, extensions: [ext, named(labels[0])] },
      b: { doc: b, extensions: [ext, named(labels[1])] },
      collapseUnchanged: { margin: 3, minSize: 6 },
      gutter: true,
    });
    return () => merge.destroy();
  }, [a, b, language]);
  return html`<div class="diff" ref=${host} data-testid="diff"></div>`;
}
