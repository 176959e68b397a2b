// Two small DOM helpers: element creation, and keyed reconciliation of a
// container's children (elements are kept across renders, so focus, caret and
// scroll positions survive remote changes).

/** `h("button", { class: "x", onclick }, "text", child)`. */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (name in element && name !== "list" && typeof value !== "string") {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  element.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return element;
}

/**
 * Makes `container`'s children one view per item, in order: `create(item)`
 * returns a view `{ element, update(item), destroy?() }`, kept per `keyOf(item)`.
 * `views` is the Map this container's views live in between calls.
 */
export function reconcile(container, views, items, keyOf, create) {
  const seen = new Set();
  let cursor = container.firstElementChild;
  for (const item of items) {
    const key = keyOf(item);
    if (seen.has(key)) continue; // a duplicated key (two concurrent moves): show it once
    seen.add(key);
    let view = views.get(key);
    if (!view) {
      view = create(item);
      views.set(key, view);
    }
    view.update(item);
    if (view.element !== cursor) container.insertBefore(view.element, cursor);
    else cursor = cursor.nextElementSibling;
  }
  for (const [key, view] of views) {
    if (seen.has(key)) continue;
    view.destroy?.();
    view.element.remove();
    views.delete(key);
  }
}

/** Sets text content only when it changed (no needless layout). */
export function setText(element, text) {
  const value = String(text);
  if (element.textContent !== value) element.textContent = value;
}
