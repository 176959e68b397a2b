// The board document and every write the page makes to it.
//
//   { title: text,
//     createdAt: Date,
//     lists: [ { id, name: text,
//                tasks: [ { id, title: text, done: boolean, notes: text,
//                           votes: Counter, createdAt: Date } ] } ] }
//
// Strings are collaborative text (concurrent typing merges), `votes` is a
// counter (concurrent votes add up), ids are atomic strings. Lists and tasks
// are addressed by id, never by a remembered index: another user may have
// inserted or deleted something before them since the page last rendered, so
// every write looks the index up in the current document first.

import { Counter, ImmutableString } from "edgesync";

const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
export const BOARD_ID_PREFIX = "board-";
const BOARD_ID = /^board-[A-Za-z0-9]{8,64}$/;

function randomId(length) {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  // 256 % 62 skews a few letters by a hair; irrelevant for ids this long.
  return Array.from(bytes, (b) => ID_ALPHABET[b % ID_ALPHABET.length]).join("");
}

/** A new board's document id; tokens grant access to `board-*`. */
export function newBoardId() {
  return BOARD_ID_PREFIX + randomId(20);
}

export function isBoardId(value) {
  return typeof value === "string" && BOARD_ID.test(value);
}

export function newTask(title, now = new Date()) {
  return {
    id: new ImmutableString(`t-${randomId(10)}`),
    title,
    done: false,
    notes: "",
    votes: new Counter(0),
    createdAt: now,
  };
}

export function newList(name, tasks = []) {
  return { id: new ImmutableString(`l-${randomId(10)}`), name, tasks };
}

/** What a new board starts with: a few lists that tell a newcomer what to try. */
export function seedBoard(now = new Date()) {
  const task = (title, notes, done = false) => ({ ...newTask(title, now), notes, done });
  return {
    title: "Launch plan",
    createdAt: now,
    lists: [
      newList("To do", [
        task("Open this board in a second window", "Use “Copy link”, paste it in another window (or another browser) and type in both."),
        task("Kill the region that serves you", "In the Regions panel, press Kill on the region marked “serving you”. Keep typing: the edge moves you to the next fastest region and nothing is lost."),
        task("Take the page offline", "Press “Go offline”, keep editing, even reload. Come back online and everything converges."),
      ]),
      newList("Doing", [task("Vote on what matters", "Votes are counters: votes cast at the same time in different windows add up.")]),
      newList("Done", [task("Start the local world", "./scripts/demo.sh started three regions, the edge and this page.", true)]),
    ],
  };
}

/** Index of the list with `listId` in a board value, or -1. */
export function listIndex(board, listId) {
  const lists = Array.isArray(board?.lists) ? board.lists : [];
  return lists.findIndex((list) => list && list.id === listId);
}

/** `[listIndex, taskIndex]` of a task in a board value, or null. */
export function taskIndex(board, listId, taskId) {
  const li = listIndex(board, listId);
  if (li < 0) return null;
  const tasks = Array.isArray(board.lists[li].tasks) ? board.lists[li].tasks : [];
  const ti = tasks.findIndex((task) => task && task.id === taskId);
  return ti < 0 ? null : [li, ti];
}

/** True once the board's structure has arrived (a fresh find() opens empty). */
export function isLoaded(board) {
  return Array.isArray(board?.lists);
}

/** A stored task as a plain value to re-insert elsewhere (a move is copy + delete). */
function copyOfTask(task) {
  return {
    id: new ImmutableString(task.id),
    title: String(task.title ?? ""),
    done: Boolean(task.done),
    notes: String(task.notes ?? ""),
    votes: new Counter(Number(task.votes ?? 0)),
    createdAt: task.createdAt instanceof Date ? task.createdAt : new Date(),
  };
}

/** The page's writes to one board document (a DocHandle). */
export class Board {
  constructor(handle) {
    this.handle = handle;
  }

  get id() {
    return this.handle.id;
  }

  value() {
    return this.handle.value();
  }

  /** Path of a text field, looked up now; null if it no longer exists. */
  textPath(target) {
    const board = this.value();
    switch (target.kind) {
      case "title":
        return ["title"];
      case "list-name": {
        const li = listIndex(board, target.listId);
        return li < 0 ? null : ["lists", li, "name"];
      }
      case "task-field": {
        const at = taskIndex(board, target.listId, target.taskId);
        return at && ["lists", at[0], "tasks", at[1], target.field];
      }
      default:
        return null;
    }
  }

  /** Applies a text edit to a field; false when the field is gone. */
  spliceText(target, { index, remove, insert }) {
    const path = this.textPath(target);
    if (!path) return false;
    if (typeof this.handle.get(path) !== "string") {
      // Missing (a document written by an older page): create it whole.
      this.handle.set(path, insert);
      return true;
    }
    this.handle.splice(path, index, remove, insert);
    return true;
  }

  addList(name) {
    if (!isLoaded(this.value())) return null;
    const list = newList(name);
    this.handle.push("lists", list);
    return String(list.id);
  }

  removeList(listId) {
    const li = listIndex(this.value(), listId);
    if (li >= 0) this.handle.delete(["lists", li]);
  }

  addTask(listId, title) {
    const li = listIndex(this.value(), listId);
    if (li < 0) return null;
    const task = newTask(title);
    this.handle.push(["lists", li, "tasks"], task);
    return String(task.id);
  }

  removeTask(listId, taskId) {
    const at = taskIndex(this.value(), listId, taskId);
    if (at) this.handle.delete(["lists", at[0], "tasks", at[1]]);
  }

  setDone(listId, taskId, done) {
    const at = taskIndex(this.value(), listId, taskId);
    if (at) this.handle.set(["lists", at[0], "tasks", at[1], "done"], Boolean(done));
  }

  vote(listId, taskId, by) {
    const at = taskIndex(this.value(), listId, taskId);
    if (at) this.handle.increment(["lists", at[0], "tasks", at[1], "votes"], by);
  }

  /** Moves a task to the end of the list `step` places left (-1) or right (+1). */
  moveTask(listId, taskId, step) {
    const board = this.value();
    const at = taskIndex(board, listId, taskId);
    if (!at) return;
    const target = at[0] + step;
    if (target < 0 || target >= board.lists.length) return;
    // One task, so one change: other pages never see the task twice or nowhere.
    this.handle.push(["lists", target, "tasks"], copyOfTask(board.lists[at[0]].tasks[at[1]]));
    this.handle.delete(["lists", at[0], "tasks", at[1]]);
  }

  /** Deletes every done task of a list (from the end, so indices stay valid). */
  clearDone(listId) {
    const board = this.value();
    const li = listIndex(board, listId);
    if (li < 0) return;
    const tasks = board.lists[li].tasks ?? [];
    for (let ti = tasks.length - 1; ti >= 0; ti--) {
      if (tasks[ti]?.done) this.handle.delete(["lists", li, "tasks", ti]);
    }
  }
}
