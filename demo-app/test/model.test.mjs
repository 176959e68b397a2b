import assert from "node:assert/strict";
import { test } from "node:test";
import { isBoardId, isLoaded, listIndex, newBoardId, seedBoard, taskIndex } from "../src/board/model.js";

test("board ids are valid document ids in the board-* namespace", () => {
  const ids = new Set(Array.from({ length: 100 }, newBoardId));
  assert.equal(ids.size, 100);
  for (const id of ids) {
    assert.ok(isBoardId(id), id);
    assert.match(id, /^[A-Za-z0-9_-]{1,128}$/, "a DocId (sync-protocol/PROTOCOL.md)");
  }
  for (const bad of ["", "board-", "board-short", "other-abcdefghijkl", "board-abc/../x", null, 42]) assert.ok(!isBoardId(bad), String(bad));
});

test("lists and tasks are found by id, wherever concurrent edits moved them", () => {
  const board = {
    lists: [
      { id: "l-1", tasks: [{ id: "t-1" }, { id: "t-2" }] },
      { id: "l-2", tasks: [{ id: "t-3" }] },
    ],
  };
  assert.equal(listIndex(board, "l-2"), 1);
  assert.equal(listIndex(board, "l-9"), -1);
  assert.deepEqual(taskIndex(board, "l-1", "t-2"), [0, 1]);
  assert.equal(taskIndex(board, "l-2", "t-1"), null, "a task is looked up in its own list");
  assert.equal(taskIndex({}, "l-1", "t-1"), null, "an empty (still loading) board");
  assert.equal(listIndex({ lists: [null, { id: "l-1" }] }, "l-1"), 1, "tolerates holes");
});

test("a new board is loaded, with unique ids and typed fields", () => {
  const now = new Date("2025-01-01T00:00:00Z");
  const board = seedBoard(now);
  assert.ok(isLoaded(board));
  assert.ok(!isLoaded({}));
  const ids = board.lists.flatMap((l) => [String(l.id), ...l.tasks.map((t) => String(t.id))]);
  assert.equal(new Set(ids).size, ids.length);
  for (const task of board.lists.flatMap((l) => l.tasks)) {
    assert.equal(typeof task.title, "string");
    assert.equal(typeof task.notes, "string");
    assert.equal(Number(task.votes), 0);
    assert.equal(task.createdAt, now);
  }
});
