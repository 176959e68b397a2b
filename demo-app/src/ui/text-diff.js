// The single edit that turns one string into another, and where a caret ends
// up after an edit. Indices are UTF-16 code units, like JS strings and the
// SDK's splice; an edit never splits a surrogate pair.

const isHigh = (code) => code >= 0xd800 && code <= 0xdbff;
const isLow = (code) => code >= 0xdc00 && code <= 0xdfff;

/**
 * `{ index, remove, insert }` such that replacing `remove` units of `before`
 * at `index` by `insert` gives `after` (common prefix and suffix kept), or
 * null when the strings are equal.
 */
export function diffText(before, after) {
  if (before === after) return null;
  const shorter = Math.min(before.length, after.length);
  let start = 0;
  while (start < shorter && before.charCodeAt(start) === after.charCodeAt(start)) start++;
  // Do not start between the halves of a pair.
  if (start > 0 && isHigh(before.charCodeAt(start - 1))) start--;
  let endBefore = before.length;
  let endAfter = after.length;
  while (endBefore > start && endAfter > start && before.charCodeAt(endBefore - 1) === after.charCodeAt(endAfter - 1)) {
    endBefore--;
    endAfter--;
  }
  if (endBefore < before.length && isLow(before.charCodeAt(endBefore))) {
    endBefore++;
    endAfter++;
  }
  return { index: start, remove: endBefore - start, insert: after.slice(start, endAfter) };
}

/** Where position `pos` of the old string is after `edit` (inside a replaced range: after the insert). */
export function shiftPosition(pos, edit) {
  if (!edit || pos <= edit.index) return pos;
  if (pos >= edit.index + edit.remove) return pos + edit.insert.length - edit.remove;
  return edit.index + edit.insert.length;
}
