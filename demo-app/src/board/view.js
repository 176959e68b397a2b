// Renders a board value into the page and turns the user's actions into
// Board writes. Views are keyed by list and task id and updated in place, so a
// remote change never steals focus or moves the caret of a field being typed in.

import { h, reconcile, setText } from "../ui/dom.js";
import { bindText } from "../ui/text-binding.js";

/** Fits a textarea's height to its text (once it is in the page and can be measured). */
function autoGrow(textarea) {
  if (!textarea.isConnected) {
    requestAnimationFrame(() => textarea.isConnected && autoGrow(textarea));
    return;
  }
  textarea.style.height = "auto";
  textarea.style.height = `${textarea.scrollHeight}px`;
}

/**
 * A growing textarea bound to a text of the board. `singleLine` fields (titles,
 * names) wrap when long but take no line breaks: Enter leaves the field.
 */
function textField(board, target, { class: className, placeholder, label, singleLine = false }) {
  const element = h("textarea", {
    class: className,
    placeholder,
    "aria-label": label,
    rows: 1,
    spellcheck: singleLine ? "false" : "true",
    dataset: { field: target.field ?? target.kind },
  });
  if (singleLine) {
    element.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.isComposing) {
        event.preventDefault();
        element.blur();
      }
    });
  }
  const update = bindText(element, "", (edit) => board.spliceText(target, singleLine ? { ...edit, insert: edit.insert.replace(/[\r\n]+/g, " ") } : edit));
  element.addEventListener("input", () => autoGrow(element));
  return {
    element,
    update(text) {
      update(typeof text === "string" ? text : "");
      autoGrow(element);
    },
  };
}

/** An input and a "+" button that calls `add(text)` with the trimmed text, then clears. */
function addForm({ class: className, placeholder, label }, add) {
  const input = h("input", { class: "new-item", placeholder, "aria-label": placeholder.replace("…", "") });
  const submit = (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    add(text);
    input.value = "";
  };
  return h("form", { class: className, onsubmit: submit }, input, h("button", { class: "add", type: "submit", "aria-label": label }, "+"));
}

function taskView(board, listId, taskId) {
  const target = (field) => ({ kind: "task-field", listId, taskId, field });
  const title = textField(board, target("title"), { class: "task-title", placeholder: "Task", label: "Task title", singleLine: true });
  const notes = textField(board, target("notes"), {
    class: "task-notes",
    placeholder: "Notes…",
    label: "Task notes",
  });
  const done = h("input", {
    type: "checkbox",
    class: "task-done",
    "aria-label": "Done",
    onchange: () => board.setDone(listId, taskId, done.checked),
  });
  const votes = h("span", { class: "vote-count", "aria-live": "polite" });
  const voteButton = (by, label, symbol) =>
    h("button", { class: "icon vote", title: label, "aria-label": label, onclick: () => board.vote(listId, taskId, by) }, symbol);
  const moveLeft = h("button", { class: "icon", title: "Move to the previous list", "aria-label": "Move left", onclick: () => board.moveTask(listId, taskId, -1) }, "←");
  const moveRight = h("button", { class: "icon", title: "Move to the next list", "aria-label": "Move right", onclick: () => board.moveTask(listId, taskId, 1) }, "→");
  const element = h(
    "li",
    { class: "task", dataset: { taskId } },
    h("div", { class: "task-main" }, done, title.element),
    notes.element,
    h(
      "div",
      { class: "task-actions" },
      h("span", { class: "votes" }, voteButton(1, "Vote up", "▲"), votes, voteButton(-1, "Vote down", "▼")),
      h("span", { class: "spacer" }),
      moveLeft,
      moveRight,
      h("button", { class: "icon danger", title: "Delete task", "aria-label": "Delete task", onclick: () => board.removeTask(listId, taskId) }, "✕"),
    ),
  );
  return {
    element,
    /** `first`/`last`: the task's list is the first/last one (no move that way). */
    update({ task, first, last }) {
      title.update(task.title);
      notes.update(task.notes);
      done.checked = Boolean(task.done);
      element.classList.toggle("is-done", Boolean(task.done));
      setText(votes, Number(task.votes ?? 0));
      moveLeft.disabled = first;
      moveRight.disabled = last;
    },
  };
}

function listView(board, listId) {
  const name = textField(board, { kind: "list-name", listId }, { class: "list-name", placeholder: "List name", label: "List name", singleLine: true });
  const count = h("span", { class: "list-count" });
  const tasks = h("ol", { class: "tasks" });
  const taskViews = new Map();
  const clearDone = h("button", { class: "link", onclick: () => board.clearDone(listId) }, "Clear done");
  const remove = h(
    "button",
    {
      class: "icon danger",
      title: "Delete list",
      "aria-label": "Delete list",
      onclick: () => {
        const tasksLeft = tasks.children.length;
        if (tasksLeft === 0 || confirm(`Delete this list and its ${tasksLeft} task(s) for everyone?`)) board.removeList(listId);
      },
    },
    "✕",
  );
  const element = h(
    "section",
    { class: "list", dataset: { listId } },
    h("header", { class: "list-header" }, name.element, count, remove),
    tasks,
    addForm({ class: "add-task", placeholder: "Add a task…", label: "Add task" }, (title) => board.addTask(listId, title)),
    h("footer", { class: "list-footer" }, clearDone),
  );
  return {
    element,
    /** `first`/`last`: where this list is on the board (for the move arrows). */
    update({ list, first, last }) {
      name.update(list.name);
      const items = Array.isArray(list.tasks) ? list.tasks.filter((t) => t && typeof t.id === "string") : [];
      const done = items.filter((t) => t.done).length;
      setText(count, items.length ? `${done}/${items.length}` : "empty");
      clearDone.hidden = done === 0;
      const placed = items.map((task) => ({ task, first, last }));
      reconcile(tasks, taskViews, placed, (item) => item.task.id, (item) => taskView(board, listId, item.task.id));
    },
  };
}

/** Mounts the board into `container`; returns `render(value)`. */
export function mountBoard(container, board) {
  const lists = h("div", { class: "lists" });
  const listViews = new Map();
  container.replaceChildren(
    lists,
    addForm({ class: "list add-list", placeholder: "Add a list…", label: "Add list" }, (name) => board.addList(name)),
  );

  return function render(value) {
    const valid = Array.isArray(value.lists) ? value.lists.filter((l) => l && typeof l.id === "string") : [];
    // Tasks of the first and last lists cannot move further out.
    const items = valid.map((list, index) => ({ list, first: index === 0, last: index === valid.length - 1 }));
    reconcile(lists, listViews, items, (item) => item.list.id, (item) => listView(board, item.list.id));
  };
}
