// CodeMirror 6 as a Preact component, and a side-by-side diff (CodeMirror's MergeView).
import { useEffect, useRef } from "preact/hooks";
import { EditorState, Compartment } from "@codemirror/state";
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
  if (onChange) list.push(EditorView.updateListener.of((u) => u.docChanged && onChange(u.state.doc.toString())));
  return list;
}

/** A code editor; `value` set from outside replaces the text, edits call `onChange(text)`. */
export function CodeEditor({ value, language = "python", onChange, readOnly = false, label, id }) {
  const host = useRef(null);
  const view = useRef(null);
  const changed = useRef(onChange);
  changed.current = onChange;
  const config = useRef(new Compartment());

  useEffect(() => {
    view.current = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: value || "",
        extensions: config.current.of(extensions(language, readOnly, (text) => changed.current?.(text))),
      }),
    });
    if (label) view.current.contentDOM.setAttribute("aria-label", label);
    if (id) view.current.contentDOM.id = id;
    return () => view.current.destroy();
  }, []);
  useEffect(() => {
    view.current.dispatch({ effects: config.current.reconfigure(extensions(language, readOnly, (text) => changed.current?.(text))) });
  }, [language, readOnly]);
  useEffect(() => {
    const current = view.current.state.doc.toString();
    if ((value || "") !== current) {
      view.current.dispatch({ changes: { from: 0, to: current.length, insert: value || "" } });
    }
  }, [value]);
  return html`<div class="code-editor" ref=${host} data-language=${language}></div>`;
}

/** Two texts side by side with their differences marked; unchanged stretches collapsed. */
export function Diff({ a, b, language = "yaml" }) {
  const host = useRef(null);
  useEffect(() => {
    const ext = extensions(language, true, null);
    const merge = new MergeView({
      parent: host.current,
      a: { doc: a, extensions: ext },
      b: { doc: b, extensions: ext },
      collapseUnchanged: { margin: 3, minSize: 6 },
      gutter: true,
    });
    return () => merge.destroy();
  }, [a, b, language]);
  return html`<div class="diff" ref=${host} data-testid="diff"></div>`;
}
