import assert from "node:assert/strict";
import { test } from "node:test";
import { diffText, shiftPosition } from "../src/ui/text-diff.js";

function apply(text, edit) {
  return edit ? text.slice(0, edit.index) + edit.insert + text.slice(edit.index + edit.remove) : text;
}

test("equal strings need no edit", () => {
  assert.equal(diffText("abc", "abc"), null);
});

test("typing, deleting and replacing give the smallest single edit", () => {
  assert.deepEqual(diffText("helo", "hello"), { index: 3, remove: 0, insert: "l" });
  assert.deepEqual(diffText("hello", "helo"), { index: 3, remove: 1, insert: "" });
  assert.deepEqual(diffText("the cat sat", "the dog sat"), { index: 4, remove: 3, insert: "dog" });
  assert.deepEqual(diffText("", "new"), { index: 0, remove: 0, insert: "new" });
  assert.deepEqual(diffText("gone", ""), { index: 0, remove: 4, insert: "" });
});

test("an edit never splits a surrogate pair", () => {
  // 😀 and 😃 share their high surrogate; the edit must replace the whole pair.
  const edit = diffText("a😀b", "a😃b");
  assert.deepEqual(edit, { index: 1, remove: 2, insert: "😃" });
  // Inserting before an emoji that shares the low surrogate of the inserted one.
  const before = "x😀";
  const after = "x😀😀";
  const grow = diffText(before, after);
  assert.equal(apply(before, grow), after);
  assert.ok(!/^[\udc00-\udfff]/.test(grow.insert), "insert does not start with a low surrogate");
});

test("random edits round-trip", () => {
  const alphabet = ["a", "b", " ", "é", "😀", "\n"];
  let seed = 7;
  const random = (n) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  for (let i = 0; i < 500; i++) {
    const make = () => Array.from({ length: random(8) }, () => alphabet[random(alphabet.length)]).join("");
    const [a, b] = [make(), make()];
    assert.equal(apply(a, diffText(a, b)), b, JSON.stringify([a, b]));
  }
});

test("positions move with the text around them", () => {
  const edit = { index: 4, remove: 2, insert: "xyz" };
  assert.equal(shiftPosition(2, edit), 2, "before the edit");
  assert.equal(shiftPosition(4, edit), 4, "at the edit start: stays before remote text");
  assert.equal(shiftPosition(5, edit), 7, "inside the replaced range: after the insert");
  assert.equal(shiftPosition(6, edit), 7, "right after the removed range");
  assert.equal(shiftPosition(10, edit), 11, "after the edit");
  assert.equal(shiftPosition(3, null), 3);
});
