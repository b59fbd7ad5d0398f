// Dialogs: a modal that keeps the keyboard inside it (Tab cycles through its controls,
// Escape closes it, focus goes back where it was), and `ask()`, a styled confirmation that
// replaces the browser's confirm().
import { h, render } from "preact";
import { useLayoutEffect, useRef } from "preact/hooks";
import htm from "htm";

const html = htm.bind(h);

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"]), [contenteditable="true"]';
// Open dialogs, innermost last: only that one answers Escape and holds the focus.
const open = [];

function focusables(box) {
  return [...box.querySelectorAll(FOCUSABLE)].filter((el) => !el.hidden && el.offsetParent !== null);
}

/** Tab and Shift+Tab wrap around inside `box`; Escape calls onClose (innermost dialog only). */
function useFocusTrap(box, onClose) {
  const close = useRef(onClose);
  close.current = onClose;
  // Before the browser paints: a key pressed right after opening already lands inside.
  useLayoutEffect(() => {
    const before = document.activeElement;
    const me = {};
    open.push(me);
    const first = box.current.querySelector("[autofocus]") || focusables(box.current).find((el) => !el.matches("header button")) || box.current;
    first.focus();
    const onKey = (e) => {
      if (open[open.length - 1] !== me) return;
      if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); close.current(); return; }
      if (e.key !== "Tab") return;
      const items = focusables(box.current);
      if (!items.length) { e.preventDefault(); return; }
      const [head, tail] = [items[0], items[items.length - 1]];
      const inside = box.current.contains(document.activeElement);
      if (e.shiftKey && (document.activeElement === head || !inside)) { e.preventDefault(); tail.focus(); }
      else if (!e.shiftKey && (document.activeElement === tail || !inside)) { e.preventDefault(); head.focus(); }
    };
    document.addEventListener("keydown", onKey, true);
    return () => {
      document.removeEventListener("keydown", onKey, true);
      open.splice(open.indexOf(me), 1);
      if (before && before.isConnected) before.focus();
    };
  }, []);
}

let counter = 0;

/** A modal dialog titled `title`; `onClose` on Escape, on ×, or on a click beside it. */
export function Modal({ title, onClose, children, wide, role = "dialog", describedBy }) {
  const box = useRef(null);
  useFocusTrap(box, onClose);
  return html`<div class="modal-back" onClick=${(e) => e.target === e.currentTarget && onClose()}>
    <div class=${`modal ${wide ? "wide" : ""}`} role=${role} aria-modal="true" aria-label=${title}
      aria-describedby=${describedBy} ref=${box} tabIndex="-1">
      <header><h2>${title}</h2><button type="button" class="icon" aria-label="Close" onClick=${onClose}>×</button></header>
      ${children}
    </div>
  </div>`;
}

// A destructive action does not take the focus: Enter on a dialog that just opened cancels.
function Confirm({ title, message, action, danger, answer }) {
  const text = useRef(`confirm-${++counter}`);
  return html`<${Modal} title=${title} onClose=${() => answer(false)} role="alertdialog" describedBy=${text.current}>
    <p id=${text.current}>${message}</p>
    <footer>
      <button type="button" onClick=${() => answer(false)} autofocus=${danger}>Cancel</button>
      <button type="button" class=${danger ? "primary danger" : "primary"} onClick=${() => answer(true)} autofocus=${!danger}>${action}</button>
    </footer>
  </${Modal}>`;
}

/** Ask before doing something: resolves true when the user confirms, false on Cancel or
 *  Escape. Replaces window.confirm(), which is unstyled and blocks the page. */
export function ask({ title, message, action = "OK", danger = false }) {
  return new Promise((resolve) => {
    const root = document.body.appendChild(document.createElement("div"));
    const answer = (yes) => { render(null, root); root.remove(); resolve(yes); };
    render(html`<${Confirm} title=${title} message=${message} action=${action} danger=${danger} answer=${answer} />`, root);
  });
}
