// Binds an <input> or <textarea> to a collaborative text in a document: what
// the user types becomes splices (so concurrent edits of the same field merge
// instead of overwriting each other) and remote edits update the field in
// place, keeping the user's caret and selection where they were in the text.

import { diffText, shiftPosition } from "./text-diff.js";

/**
 * `splice(edit)` applies `{ index, remove, insert }` to the text in the document
 * (it returns false when the text no longer exists, e.g. deleted remotely).
 * Returns `update(text)`, to call with the document's text after each change.
 */
export function bindText(element, initialText, splice) {
  let shown = initialText;
  element.value = initialText;

  element.addEventListener("input", () => {
    // While an IME composes, the field holds provisional text; wait for the end.
    if (element.isComposing) return;
    commit();
  });
  element.addEventListener("compositionend", commit);

  function commit() {
    const edit = diffText(shown, element.value);
    if (!edit) return;
    shown = element.value;
    splice(edit);
  }

  return function update(text) {
    if (text === shown && text === element.value) return;
    const edit = diffText(element.value, text);
    const focused = document.activeElement === element;
    const { selectionStart, selectionEnd, selectionDirection } = element;
    shown = text;
    element.value = text;
    if (focused && edit && selectionStart !== null) {
      element.setSelectionRange(shiftPosition(selectionStart, edit), shiftPosition(selectionEnd, edit), selectionDirection);
    }
  };
}
